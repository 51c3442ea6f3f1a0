"""Uploads are counted apart from other requests (`quotas.upload_requests_per_minute`): a
bulk upload through an SDK, one request per file, is not held to `requests_per_minute`,
and its own limit answers a 429 that says which limit it is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mmstack.api.app import create_app
from mmstack.config.settings import QuotaSettings, Settings
from tests.api.live_server import admin_key, client_stack


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    limited = settings.model_copy(
        update={"quotas": QuotaSettings(requests_per_minute=3, upload_requests_per_minute=6)}
    )
    with TestClient(create_app(limited)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin_key(client_stack(test_client))}"
        yield test_client


def test_uploads_have_their_own_per_minute_limit(client: TestClient) -> None:
    collection = client.post("/api/collections", json={"name": "bulk"})
    assert collection.status_code == 201  # 1 of 3 requests
    for n in range(4):  # more than requests_per_minute allows
        sent = client.post(
            "/v1/files",
            files={"file": (f"n{n}.txt", f"note {n}".encode())},
            data={"purpose": "assistants"},
        )
        assert sent.status_code == 200, sent.text
    for n in range(2):
        into = client.post(
            "/api/collections/bulk/files", files=[("files", (f"c{n}.txt", f"item {n}".encode()))]
        )
        assert into.status_code == 201, into.text
    refused = client.post(
        "/v1/files", files={"file": ("over.txt", b"x")}, data={"purpose": "assistants"}
    )
    assert refused.status_code == 429
    assert "6 uploads per minute" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1
    # Other requests still have their own allowance: 2 of 3 used... then the third.
    assert client.get("/api/collections").status_code == 200
    assert client.get("/api/collections").status_code == 200
    assert client.get("/api/collections").status_code == 429
