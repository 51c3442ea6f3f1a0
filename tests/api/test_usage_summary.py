"""GET /api/usage/summary: usage summed by the dimensions asked for, with the latency of
the model calls the server timed, paged with `after`, and each caller seeing only what
their role allows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mmstack.api.app import create_app
from mmstack.config.settings import Settings
from mmstack.models.catalog import MINILM_ID
from tests.api.live_server import admin_key, client_stack, developer_key


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin_key(client_stack(test_client))}"
        yield test_client


def _embed(client: TestClient, headers: dict[str, str] | None = None) -> None:
    done = client.post(
        "/v1/embeddings", json={"model": MINILM_ID, "input": "a short text"}, headers=headers
    )
    assert done.status_code == 200, done.text


def test_summary_by_user_with_latency_paged_and_scoped(client: TestClient) -> None:
    dana = developer_key(client_stack(client), "dana")
    erin = developer_key(client_stack(client), "erin")
    for _ in range(3):
        _embed(client, dana)
    _embed(client, erin)
    _embed(client)  # the admin

    everyone = client.get("/api/usage/summary", params={"by": ["user"]})
    assert everyone.status_code == 200, everyone.text
    rows = {r["username"]: r for r in everyone.json()["data"]}
    assert {rows["dana"]["requests"], rows["erin"]["requests"]} == {3, 1}
    assert rows["dana"]["timed_requests"] == 3
    assert rows["dana"]["latency_p50"] > 0
    assert rows["dana"]["latency_p50"] <= rows["dana"]["latency_p95"]
    assert rows["dana"]["prompt_tokens"] > 0

    # Each developer sees their own usage only.
    own = client.get("/api/usage/summary", params={"by": ["user", "model"]}, headers=dana)
    assert [(r["username"], r["requests"]) for r in own.json()["data"]] == [("dana", 3)]
    [total] = client.get("/api/usage/summary", headers=erin).json()["data"]
    assert (total["id"], total["requests"], total["user_id"]) == ("all", 1, None)

    # Pages of one group, each following the last id of the one before.
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, str | int | list[str]] = {"by": ["user"], "limit": 1}
        if after:
            params["after"] = after
        page = client.get("/api/usage/summary", params=params).json()
        assert len(page["data"]) == 1
        seen.append(page["data"][0]["username"])
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert sorted(seen) == sorted(rows)

    unknown = client.get("/api/usage/summary", params={"after": "nobody"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "after"
    bad = client.get("/api/usage/summary", params={"by": ["weather"]})
    assert bad.status_code in (400, 422)
    assert "error" in bad.json()
