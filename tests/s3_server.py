"""A real S3 protocol peer for the tests: `moto_server` (moto's stand-alone S3 server) on a
free port of 127.0.0.1, started once per test session. AWS S3 and MinIO cannot run here;
moto speaks the same REST protocol (signatures, multipart uploads, ranged GETs)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.standins.scale_out import free_port

ACCESS_KEY_ID = "mmstack-test-key-id"
SECRET_ACCESS_KEY = "mmstack-test-secret-" + uuid.uuid4().hex


@dataclass(frozen=True)
class S3Server:
    url: str

    def client(self) -> object:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name="us-east-1",
        ).client("s3", endpoint_url=self.url)

    def new_bucket(self) -> str:
        name = f"mmstack-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    moto = Path(sys.executable).with_name("moto_server")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()}") from None
                time.sleep(0.2)
        yield S3Server(url)
    finally:
        process.terminate()
        process.wait(10)
