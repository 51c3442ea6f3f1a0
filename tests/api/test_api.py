"""The HTTP API on a live application (lifespan, worker threads, real stores)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mmstack.api.app import create_app
from mmstack.config.settings import IngestSettings, Settings
from tests.api.live_server import admin_key, client_stack
from tests.documents import PAGE_TEXTS, make_pdf
from tests.timing import within_one_minute


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    live = settings.model_copy(
        update={"ingest": IngestSettings(workers=1, retry_base_seconds=0.01)}
    )
    with TestClient(create_app(live)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin_key(client_stack(test_client))}"
        yield test_client


def _wait_done(client: TestClient, collection: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files: list[dict[str, Any]] = client.get(f"/api/collections/{collection}/files").json()[
            "data"
        ]
        if len(files) == n and all(f["status"] in ("completed", "failed") for f in files):
            return files
        time.sleep(0.05)
    raise AssertionError(f"ingestion did not finish: {files}")


def _assert_openai_error(response: Any, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert fragment in error["message"]


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "vector_index": "ok", "blob_store": "ok"}
    assert ready.json()["llm"] == {"embedded": "ok"}
    spec = client.get("/openapi.json").json()
    assert "/api/search" in spec["paths"]
    assert "/api/collections/{collection}/files" in spec["paths"]
    assert client.get("/docs").status_code == 200
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc123"}).headers["x-request-id"]
        == "abc123"
    )
    assert len(client.get("/healthz").headers["x-request-id"]) == 16


def test_upload_status_search_delete(client: TestClient) -> None:
    created = client.post("/api/collections", json={"name": "reports", "description": "Q1"})
    assert created.status_code == 201
    cid = created.json()["id"]
    report = make_pdf(PAGE_TEXTS)
    upload = client.post(
        "/api/collections/reports/files",
        files=[
            ("files", ("q1.pdf", report, "application/pdf")),
            ("files", ("broken.pdf", b"%PDF-1.4 truncated", "application/pdf")),
            ("files", ("../../etc/evil.txt", b"Harmless text about owls.", "text/plain")),
        ],
        data={"tags": ["finance"]},
    )
    assert upload.status_code == 201, upload.text
    uploaded = upload.json()["data"]
    assert [f["filename"] for f in uploaded] == ["q1.pdf", "broken.pdf", "evil.txt"]
    assert all(f["tags"] == ["finance"] for f in uploaded)
    files = {f["filename"]: f for f in _wait_done(client, "reports", 3)}
    assert files["q1.pdf"]["status"] == "completed"
    assert files["q1.pdf"]["chunk_count"] == 4
    assert files["broken.pdf"]["status"] == "failed"
    assert files["broken.pdf"]["last_error"]

    again = client.post("/api/collections/reports/files", files=[("files", ("copy.pdf", report))])
    assert again.json()["data"][0]["duplicate"] is True

    found = client.post(
        "/api/search",
        json={
            "query": "titanium valve corrosion at the desalination plant",
            "collections": ["reports"],
        },
    ).json()
    top = found["data"][0]
    assert top["filename"] == "q1.pdf"
    assert top["anchor"]["page_start"] == 3
    assert found["mode"] == "hybrid"
    assert set(top["ranks"]) <= {"keyword", "vector"}
    tagged = client.post("/api/search", json={"query": "owls", "filters": {"tags": ["other"]}})
    assert tagged.json()["data"] == []

    status = client.get(f"/api/collections/{cid}/files/{files['q1.pdf']['id']}").json()
    assert status["progress"] == 1.0
    jobs = client.get("/api/jobs").json()["data"]
    assert {j["status"] for j in jobs} == {"succeeded", "failed"}

    assert client.delete(f"/api/collections/{cid}/files/{files['q1.pdf']['id']}").json()["deleted"]
    after = client.post(
        "/api/search", json={"query": "titanium valve corrosion", "mode": "keyword"}
    )
    assert after.json()["data"] == []
    assert client.delete("/api/collections/reports").json()["deleted"]
    _assert_openai_error(client.get("/api/collections/reports"), 404, "not found")


def test_bad_requests_get_openai_shaped_errors(client: TestClient) -> None:
    _assert_openai_error(client.post("/api/collections", json={}), 400, "name")
    _assert_openai_error(
        client.post(
            "/api/collections", content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
        "JSON",
    )
    client.post("/api/collections", json={"name": "dup"})
    _assert_openai_error(
        client.post("/api/collections", json={"name": "dup"}), 409, "already exists"
    )
    _assert_openai_error(
        client.post("/api/search", json={"query": "x", "mode": "magic"}), 400, "mode"
    )
    _assert_openai_error(
        client.post("/api/search", json={"query": "x", "collections": ["nope"]}), 404, "nope"
    )
    _assert_openai_error(client.get("/api/jobs/999999"), 404, "job 999999")
    _assert_openai_error(client.get("/api/nowhere"), 404, "Not Found")
    _assert_openai_error(client.get("/api/collections/dup/files/file-missing"), 404, "file-missing")
    client.post("/api/collections/dup/files", files=[("files", ("tool.exe", b"MZ..."))])
    failed = client.get("/api/collections/dup/files").json()["data"][0]
    assert failed["status"] == "failed"
    assert "unsupported" in failed["last_error"]


def test_logins_from_one_address_are_rate_limited(settings: Settings) -> None:
    """Guesses spread over many accounts meet a limit per client address (each account's
    own lockout only stops guessing at that account)."""
    live = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"login_attempts_per_minute": 3})}
    )
    with TestClient(create_app(live)) as client:
        within_one_minute()
        for n in range(3):
            wrong = client.post("/api/auth/login", json={"username": f"u{n}", "password": "x"})
            assert wrong.status_code == 401
        limited = client.post("/api/auth/login", json={"username": "u9", "password": "x"})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        refresh = client.post("/api/auth/refresh", json={"refresh_token": "mmr_nope"})
        assert refresh.status_code == 429
