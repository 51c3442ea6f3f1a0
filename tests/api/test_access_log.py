"""The access log: a line per failed request always, per request when asked, with the route
template, status, error code, who asked (ids only) and the time taken."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mmstack.api.app import create_app
from mmstack.config.settings import (
    EmbeddedLlmSettings,
    HttpSettings,
    IngestSettings,
    LlmSettings,
    Settings,
)
from tests.api.live_server import admin_key, client_stack


def _client(settings: Settings, *, every_request: bool) -> TestClient:
    live = settings.model_copy(
        update={
            "ingest": IngestSettings(workers=0),
            "http": HttpSettings(access_log=every_request),
            "llm": LlmSettings(embedded=EmbeddedLlmSettings(enabled=False)),
        }
    )
    return TestClient(create_app(live))


@pytest.fixture
def quiet(settings: Settings) -> Iterator[tuple[TestClient, str]]:
    with _client(settings, every_request=False) as client:
        yield client, admin_key(client_stack(client))


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mmstack.access"]


def test_failed_requests_are_logged_with_their_route_and_code(
    quiet: tuple[TestClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, key = quiet
    caplog.set_level(logging.INFO, logger="mmstack.access")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/collections", headers=headers).status_code == 200
    assert client.get("/api/collections/nowhere", headers=headers).status_code == 404
    assert client.get("/v1/models").status_code == 401
    assert client.get("/no/such/page").status_code == 404

    missing, unauthenticated, unrouted = _lines(caplog)  # the 200 is not logged
    assert missing.__dict__["route"] == "/api/collections/{collection}"
    assert (missing.__dict__["status"], missing.__dict__["error"]) == (404, "not_found")
    assert missing.__dict__["key_id"]
    assert missing.__dict__["ms"] >= 0
    assert missing.levelno == logging.INFO
    assert (unauthenticated.__dict__["route"], unauthenticated.__dict__["status"]) == (
        "/v1/models",
        401,
    )
    assert "user_id" not in unauthenticated.__dict__
    assert (unrouted.__dict__["route"], unrouted.__dict__["path"]) == ("(none)", "/no/such/page")
    # The key names the caller by its id; the secret never reaches the log.
    assert all(key not in r.getMessage() + str(r.__dict__) for r in caplog.records)


def test_every_request_is_logged_when_asked(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mmstack.access")
    with _client(settings, every_request=True) as client:
        key = admin_key(client_stack(client))
        client.get("/api/collections", headers={"Authorization": f"Bearer {key}"})
    (line,) = [r for r in _lines(caplog) if r.__dict__["route"] == "/api/collections"]
    assert (line.__dict__["method"], line.__dict__["status"]) == ("GET", 200)
    assert "error" not in line.__dict__
