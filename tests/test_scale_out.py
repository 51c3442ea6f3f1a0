"""The scale-out shape on one machine: two API processes and two worker processes on
PostgreSQL, sharing a vector index over Qdrant's REST protocol (the stand-in server of
tests/standins, as no Qdrant server runs here), blobs in an S3 bucket (moto_server) and
rate limits in Redis. 200 files are ingested while a worker is killed (SIGKILL) twice:
every file completes exactly once, either API process finds every file, a key's rate limit
counts the requests of both, and a key revoked through one process is refused by the other
at once."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg
import pytest
from qdrant_client import QdrantClient

from mmstack.auth.audit import Actor
from mmstack.auth.service import open_accounts
from mmstack.config.settings import AuthSettings, Settings
from tests.conftest import PG_DSN
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server
from tests.standins.scale_out import Processes, free_port, qdrant_standin, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FILES = 200
COLLECTION = "scale_out_chunks"


def _document(n: int) -> bytes:
    words = ["harbor", "copper", "meadow", "signal", "quartz", "ember", "violet", "saddle"]
    body = " ".join(words[(n + i) % len(words)] for i in range(220))
    return f"{body.capitalize()}.\n\nThe file number is zx{n:04d}qv.".encode()


@pytest.fixture
def qdrant(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with qdrant_standin(tmp_path) as running:
        yield running


def test_two_apis_and_two_workers_share_everything(
    tmp_path: Path, pg_url: str, s3_server: S3Server, qdrant: tuple[str, str]
) -> None:
    qdrant_url, qdrant_key = qdrant
    redis_db = str(secrets.randbelow(15) + 1)
    env = {
        **os.environ,
        "MMSTACK_DATABASE_URL": pg_url,
        "MMSTACK_VECTOR__BACKEND": "qdrant",
        "MMSTACK_VECTOR__QDRANT_URL": qdrant_url,
        "MMSTACK_VECTOR__QDRANT_API_KEY": qdrant_key,
        "MMSTACK_VECTOR__QDRANT_COLLECTION": COLLECTION,
        "MMSTACK_BLOBS__BACKEND": "s3",
        "MMSTACK_BLOBS__ENDPOINT_URL": s3_server.url,
        "MMSTACK_BLOBS__BUCKET": s3_server.new_bucket(),
        "MMSTACK_BLOBS__ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MMSTACK_BLOBS__SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "MMSTACK_QUOTAS__REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
        # Secrets every API process shares, as a deployment's secret files give them.
        "MMSTACK_AUTH__TOKEN_SECRET": secrets.token_hex(32),
        "MMSTACK_AUTH__DATA_KEY": secrets.token_hex(32),
        "MMSTACK_LLM__EMBEDDED__ENABLED": "false",
        "MMSTACK_INGEST__LEASE_SECONDS": "4",
        "MMSTACK_INGEST__BATCH_FILES": "4",
    }
    password = secrets.token_urlsafe(18)
    settings = Settings(
        data_dir=tmp_path / "admin",
        database_url=pg_url,
        auth=AuthSettings(initial_admin_password=password),
    )
    with open_accounts(settings) as auth:
        admin = next(u for u in auth.accounts.list_users() if u.role == "admin")
        _, key = auth.keys.create(admin.id, name="scale-out", actor=Actor.local())
        doomed, doomed_key = auth.keys.create(admin.id, name="doomed", actor=Actor.local())
        _, limited_key = auth.keys.create(
            admin.id, name="limited", actor=Actor.local(), quotas={"requests_per_minute": 6}
        )
    headers = {"Authorization": f"Bearer {key}"}
    processes = Processes(tmp_path, env)
    with ExitStack() as cleanup:
        cleanup.callback(processes.stop_all)
        apis = []
        for name in ("api1", "api2"):
            port = free_port()
            process = processes.start(name, "up", "--port", str(port), MMSTACK_INGEST__WORKERS="0")
            apis.append((f"http://127.0.0.1:{port}", name, process))
        for base, name, process in apis:
            wait_ready(base + "/readyz", process, processes.log(name))
        workers = {name: processes.start(name, "worker") for name in ("worker1", "worker2")}
        (first, _, _), (second, _, _) = apis

        made = httpx.post(f"{first}/api/collections", json={"name": "big"}, headers=headers)
        assert made.status_code in (200, 201), made.text
        for start in range(0, FILES, 50):  # uploaded through the other API process
            upload = [
                ("files", (f"doc{n:03d}.txt", _document(n), "text/plain"))
                for n in range(start, start + 50)
            ]
            sent = httpx.post(
                f"{second}/api/collections/big/files", files=upload, headers=headers, timeout=120
            )
            assert sent.status_code in (200, 201), sent.text

        def completed() -> int:
            listed = httpx.get(
                f"{first}/api/collections/big/files",
                params={"status": "completed"},
                headers=headers,
                timeout=30,
            )
            listed.raise_for_status()
            return len(listed.json()["data"])

        kills = 0
        deadline = time.monotonic() + 900
        while (done := completed()) < FILES and time.monotonic() < deadline:
            # Kill a worker mid-run, twice (once at a fifth, once at a half), then restart it.
            if kills < 2 and done >= FILES * (0.2 if kills == 0 else 0.5):
                victim = f"worker{kills + 1}"
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                workers[victim] = processes.start(victim, "worker")
                kills += 1
            time.sleep(0.5)
        assert kills == 2, f"only {kills} kills: the ingestion finished too soon ({done} done)"
        assert done == FILES, processes.log("worker1") + processes.log("worker2")

        # Every file on either API process: its unique marker finds it.
        for base, _, _ in apis:
            for n in range(FILES):
                hits = httpx.post(
                    f"{base}/api/search",
                    json={"query": f"zx{n:04d}qv", "mode": "keyword", "top_k": 1},
                    headers=headers,
                    timeout=30,
                ).json()["data"]
                assert [hit["filename"] for hit in hits] == [f"doc{n:03d}.txt"], (base, n)
            vector_hits = httpx.post(
                f"{base}/api/search",
                json={"query": "harbor copper meadow", "mode": "vector", "top_k": 5},
                headers=headers,
                timeout=30,
            ).json()["data"]
            assert len(vector_hits) == 5

        # A rate limit counts the requests of every API process (in Redis).
        limited = {"Authorization": f"Bearer {limited_key}"}
        for base in (first, second, first, second, first, second):
            assert httpx.get(f"{base}/v1/models", headers=limited).status_code == 200
        assert httpx.get(f"{first}/v1/models", headers=limited).status_code == 429
        assert httpx.get(f"{second}/v1/models", headers=limited).status_code == 429

        # A session begun on one process holds on the other (one token secret), and a key
        # revoked through one process is refused by the other at once.
        doomed_auth = {"Authorization": f"Bearer {doomed_key}"}
        assert httpx.get(f"{second}/v1/models", headers=doomed_auth).status_code == 200
        login = {"username": "admin", "password": password}
        session = httpx.post(f"{second}/api/auth/login", json=login)
        assert session.status_code == 200, session.text
        admin_auth = {"Authorization": f"Bearer {session.json()['access_token']}"}
        revoked = httpx.delete(f"{first}/api/keys/{doomed.id}", headers=admin_auth)
        assert revoked.status_code == 200, revoked.text
        assert httpx.get(f"{second}/v1/models", headers=doomed_auth).status_code == 401

    _assert_exactly_once(pg_url, qdrant_url, qdrant_key)


def _assert_exactly_once(pg_url: str, qdrant_url: str, qdrant_key: str) -> None:
    """Each file's chunks are 0..n-1 once each, and the vector index holds exactly the
    chunks' ids."""
    schema = pg_url.rpartition("search_path%3D")[2]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        per_file = conn.execute(
            "SELECT cf.chunk_count, COUNT(c.id), MIN(c.seq), MAX(c.seq), COUNT(DISTINCT c.seq) "
            "FROM collection_files cf LEFT JOIN chunks c ON c.collection_file_id = cf.id "
            "GROUP BY cf.id"
        ).fetchall()
        chunk_ids = sorted(row[0] for row in conn.execute("SELECT id FROM chunks"))
        # The ingestion jobs (the workers also run the retention job when it is due).
        ingest = "FROM jobs WHERE kind = 'ingest_file'"
        jobs = conn.execute(f"SELECT status, COUNT(*) {ingest} GROUP BY status").fetchall()
        (retried,) = conn.execute(f"SELECT COUNT(*) {ingest} AND attempts > 1").fetchone() or (0,)
    assert len(per_file) == FILES
    for expected, count, first, last, distinct in per_file:
        assert count == expected == distinct == last + 1
        assert first == 0
    assert dict(jobs) == {"succeeded": FILES}
    assert retried >= 1  # a killed worker's jobs were taken over when their leases expired
    client = QdrantClient(url=qdrant_url, api_key=qdrant_key)
    try:
        ids: list[int] = []
        offset = None
        while True:
            points, offset = client.scroll(COLLECTION, limit=1000, offset=offset)
            ids.extend(int(p.id) for p in points)
            if offset is None:
                break
    finally:
        client.close()
    assert sorted(ids) == chunk_ids
