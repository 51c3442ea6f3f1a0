"""The scale-out shape on one machine, for the tests and the benchmarks: mmstack processes
(API servers, workers) sharing one environment, and the Qdrant REST stand-in they share
their vector index through (no Qdrant server runs here)."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STANDIN = Path(__file__).parent / "qdrant_server.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """mmstack processes sharing one environment, each with its own data directory and log."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{name}.log"
        env = {**self.env, "MMSTACK_DATA_DIR": str(self.tmp_path / name), **extra}
        process = subprocess.Popen(
            [sys.executable, "-m", "mmstack", *args],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log
        time.sleep(0.2)
    raise AssertionError(f"{url} did not become ready")


@contextmanager
def qdrant_standin(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The stand-in on a free port with an API key and storage under `tmp_path`: its URL
    and key."""
    port, key = free_port(), secrets.token_hex(16)
    key_file = tmp_path / "qdrant-key"
    key_file.write_text(key)
    args = ["--host", "127.0.0.1", "--port", str(port), "--path", str(tmp_path / "qdrant")]
    with (tmp_path / "qdrant.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(STANDIN), *args, "--api-key-file", str(key_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url + "/readyz", process, "qdrant stand-in did not start", seconds=60)
        yield url, key
    finally:
        process.terminate()
        process.wait(10)
