"""Kill the server with SIGKILL during a large ingestion, start it again: the ingestion
completes with no duplicate and no missing chunks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from mmstack.auth.audit import Actor
from mmstack.auth.service import open_accounts
from mmstack.config.settings import Settings

pytestmark = pytest.mark.slow

WORDS = [
    "river",
    "mountain",
    "copper",
    "lantern",
    "orbit",
    "meadow",
    "harbor",
    "signal",
    "timber",
    "quartz",
    "falcon",
    "canyon",
    "ember",
    "glacier",
    "violet",
    "thunder",
    "saddle",
    "beacon",
    "compass",
    "marble",
]


def _document(n: int) -> bytes:
    paragraphs = []
    for p in range(12):
        words = [WORDS[(n * 7 + p * 3 + i) % len(WORDS)] for i in range(90)]
        paragraphs.append(" ".join(words).capitalize() + ".")
    paragraphs.append(f"Unique marker sentence: the file number is zx{n:04d}qv.")
    return "\n\n".join(paragraphs).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    # Small batches, so that files complete one batch at a time and the kill lands midway.
    env = {**os.environ, "MMSTACK_DATA_DIR": str(data_dir), "MMSTACK_INGEST__BATCH_FILES": "4"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mmstack", "up", "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not become ready:\n" + log.read_text())


def _api_key(data_dir: Path) -> dict[str, str]:
    """Authorization headers with a key of the data directory's first admin (made here,
    on the database the server will open, before it starts)."""
    with open_accounts(Settings(data_dir=data_dir)) as auth:
        admin = next(u for u in auth.accounts.list_users() if u.role == "admin")
        _, key = auth.keys.create(admin.id, name="kill-restart", actor=Actor.local())
    return {"Authorization": f"Bearer {key}"}


def _statuses(base: str, headers: dict[str, str]) -> list[dict[str, object]]:
    response = httpx.get(f"{base}/api/collections/big/files", headers=headers, timeout=10)
    response.raise_for_status()
    data: list[dict[str, object]] = response.json()["data"]
    return data


def test_kill_during_ingestion_then_restart(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    files = 40
    auth = _api_key(data_dir)
    server = _start(data_dir, port, log)
    try:
        made = httpx.post(f"{base}/api/collections", json={"name": "big"}, headers=auth, timeout=10)
        made.raise_for_status()
        upload = [("files", (f"doc{n:03d}.txt", _document(n), "text/plain")) for n in range(files)]
        sent = httpx.post(
            f"{base}/api/collections/big/files", files=upload, headers=auth, timeout=60
        )
        sent.raise_for_status()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = sum(1 for f in _statuses(base, auth) if f["status"] == "completed")
            if done >= 3:
                break
            time.sleep(0.1)
        assert 3 <= done < files, f"{done} files done before the kill: make the ingestion larger"
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()

    server = _start(data_dir, port, log)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            statuses = _statuses(base, auth)
            if all(f["status"] in ("completed", "failed") for f in statuses):
                break
            time.sleep(0.5)
        assert [f["status"] for f in statuses] == ["completed"] * files
        for n in (0, files // 2, files - 1):
            hits = httpx.post(
                f"{base}/api/search",
                json={"query": f"zx{n:04d}qv", "mode": "keyword", "top_k": 3},
                headers=auth,
                timeout=10,
            ).json()["data"]
            assert hits
            assert hits[0]["filename"] == f"doc{n:03d}.txt"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    engine = create_engine(f"sqlite:///{data_dir / 'mmstack.db'}")
    with engine.connect() as conn:
        per_file = conn.execute(
            text(
                "SELECT cf.id, cf.chunk_count, COUNT(c.id), MIN(c.seq), MAX(c.seq), "
                "COUNT(DISTINCT c.seq) FROM collection_files cf "
                "LEFT JOIN chunks c ON c.collection_file_id = cf.id GROUP BY cf.id"
            )
        ).all()
        # FTS5 checks its index against the chunks table and raises on any difference.
        conn.execute(text("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')"))
    engine.dispose()
    assert len(per_file) == files
    for _, expected, count, first, last, distinct in per_file:
        assert count == expected == distinct == last + 1
        assert first == 0

    from mmstack.index.vector_edge import EdgeVectorIndex

    index = EdgeVectorIndex(data_dir / "vectors", 384)
    try:
        assert sorted(index.iter_ids()) == sorted(_chunk_ids(data_dir))
    finally:
        index.close()


def _chunk_ids(data_dir: Path) -> list[int]:
    engine = create_engine(f"sqlite:///{data_dir / 'mmstack.db'}")
    with engine.connect() as conn:
        ids = [int(r[0]) for r in conn.execute(text("SELECT id FROM chunks"))]
    engine.dispose()
    return ids
