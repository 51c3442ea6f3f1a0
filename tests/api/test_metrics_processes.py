"""`mmstack up --workers 4` (the scale-out shape: PostgreSQL, the Qdrant stand-in): four
server processes on one port, whose counters `/metrics` sums exactly."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx
import pytest

from tests.api.test_metrics import value
from tests.standins.scale_out import Processes, free_port, qdrant_standin, wait_ready

REQUESTS = 40


@pytest.mark.postgres
def test_four_server_processes_sum_their_counters(tmp_path: Path, pg_url: str) -> None:
    with qdrant_standin(tmp_path) as (qdrant_url, qdrant_key):
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")},
            "MMSTACK_DATABASE_URL": pg_url,
            "MMSTACK_VECTOR__BACKEND": "qdrant",
            "MMSTACK_VECTOR__QDRANT_URL": qdrant_url,
            "MMSTACK_VECTOR__QDRANT_API_KEY": qdrant_key,
            "MMSTACK_VECTOR__QDRANT_COLLECTION": f"metrics_{secrets.token_hex(4)}",
            "MMSTACK_AUTH__TOKEN_SECRET": secrets.token_hex(32),
            "MMSTACK_AUTH__DATA_KEY": secrets.token_hex(32),
            "MMSTACK_LLM__EMBEDDED__ENABLED": "false",
            "MMSTACK_INGEST__WORKERS": "0",
        }
        processes = Processes(tmp_path, env)
        server = processes.start("api", "up", "--workers", "4", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(f"{base}/readyz", server, processes.log("api"), seconds=180)
            for _ in range(REQUESTS):  # a new connection each: the processes share them out
                with httpx.Client(timeout=30) as client:
                    assert client.get(f"{base}/healthz").status_code == 200
            exposition = httpx.get(f"{base}/metrics", timeout=30)
        finally:
            processes.stop_all()
    assert exposition.status_code == 200, exposition.text
    counted = value(
        exposition.text, "mmstack_http_requests_total", route="/healthz", method="GET", status="200"
    )
    assert counted == REQUESTS
    shared = tmp_path / "api" / "prometheus-multiproc"
    writers = {path.name for path in shared.glob("counter_*.db")}
    assert len(writers) >= 2, writers  # more than one process answered
