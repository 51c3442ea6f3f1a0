"""GET /api/stats/search and /api/stats/ingestion: searches made through the API are
counted (native and vector store search), read back as top and zero-result queries in
each caller's scope; ingestion by state and failure reason; `mmstack stats` prints them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mmstack.api.app import create_app
from mmstack.cli.main import app as cli
from mmstack.config.settings import IngestSettings, Settings
from tests.api.live_server import admin_key, client_stack, developer_key


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin_key(client_stack(test_client))}"
        yield test_client


def test_searches_through_the_api_are_counted_and_scoped(client: TestClient) -> None:
    made = client.post("/api/collections", json={"name": "notes"})
    assert made.status_code == 201, made.text
    sent = client.post(
        "/api/collections/notes/files",
        files=[
            ("files", ("owls.txt", b"Barn owls hunt voles at night.")),
            ("files", ("broken.pdf", b"%PDF-1.7\n truncated")),
        ],
    )
    assert sent.status_code == 201, sent.text
    store_id = made.json()["id"]
    client_stack(client).worker.run_until_idle()

    dev = developer_key(client_stack(client), "frank")
    for query in ("barn owls", "Barn Owls"):
        found = client.post("/api/search", json={"query": query}, headers=dev)
        assert found.status_code == 200, found.text
    nothing = client.post("/api/search", json={"query": "qqqzzz", "mode": "keyword"}, headers=dev)
    assert nothing.json()["data"] == []
    store = client.post(f"/v1/vector_stores/{store_id}/search", json={"query": "voles"})
    assert store.status_code == 200, store.text
    client_stack(client).analytics.flush()

    everyone = client.get("/api/stats/search").json()["data"]
    assert {q["query"]: q["searches"] for q in everyone} == {
        "barn owls": 2,
        "qqqzzz": 1,
        "voles": 1,
    }
    zero = client.get("/api/stats/search", params={"zero_results": True}).json()["data"]
    assert [(q["query"], q["zero_results"]) for q in zero] == [("qqqzzz", 1)]
    own = client.get(
        "/api/stats/search", headers=developer_key(client_stack(client), "gina")
    ).json()["data"]
    assert own == []  # another developer sees only their own searches
    limited = client.get("/api/stats/search", params={"limit": 1}).json()["data"]
    assert (limited[0]["clicks"], limited[0]["mean_click_rank"]) == (0, None)
    assert [q["query"] for q in limited] == ["barn owls"]

    # Results opened from the lists: frank opened the first result of one of his two
    # "barn owls" searches.
    hits = client.post("/api/search", json={"query": "barn owls"}, headers=dev).json()
    opened = {"query": hits["query"], "mode": hits["mode"], "rank": 1, "first": True}
    clicked = client.post("/api/search/clicks", json=opened, headers=dev)
    assert clicked.status_code == 204, clicked.text
    unsaid = {key: value for key, value in opened.items() if key != "first"}
    for wrong in (
        {**opened, "rank": 0},
        {**opened, "mode": "fuzzy"},
        {**opened, "query": " "},
        unsaid,
    ):
        refused = client.post("/api/search/clicks", json=wrong, headers=dev)
        assert refused.status_code in (400, 422), wrong
        assert set(refused.json()["error"]) == {"message", "type", "param", "code"}
    client_stack(client).analytics.flush()
    [barn] = [
        q for q in client.get("/api/stats/search").json()["data"] if q["query"] == "barn owls"
    ]
    assert (barn["searches"], barn["clicks"]) == (3, 1)
    assert barn["click_through"] == pytest.approx(1 / 3)
    assert barn["mean_click_rank"] == 1

    ingestion = client.get("/api/stats/ingestion").json()
    assert ingestion["by_status"] == {"completed": 1, "failed": 1}
    assert ingestion["failures"] == {"invalid_file": 1}
    assert [d["files"] for d in ingestion["days"]] == [2]
    bad = client.get("/api/stats/ingestion", params={"since": "last week"})
    assert bad.status_code in (400, 422)


def test_stats_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, ingest=IngestSettings(workers=0))
    with TestClient(create_app(settings)) as api:
        api.headers["Authorization"] = f"Bearer {admin_key(client_stack(api))}"
        api.post("/api/collections", json={"name": "n"})
        api.post("/api/collections/n/files", files=[("files", ("a.txt", b"Moss on oaks."))])
        client_stack(api).worker.run_until_idle()
        for query in ("moss", "moss", "lichen"):
            api.post("/api/search", json={"query": query, "mode": "keyword"})
    runner = CliRunner()
    table = runner.invoke(cli, ["--data-dir", str(data), "stats"])
    assert table.exit_code == 0, table.output
    assert "top queries" in table.output
    assert "lichen" in table.output
    assert "opened" in table.output
    out = runner.invoke(cli, ["--data-dir", str(data), "stats", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert [(q["query"], q["searches"]) for q in report["top_queries"]] == [
        ("moss", 2),
        ("lichen", 1),
    ]
    assert [q["query"] for q in report["zero_result_queries"]] == ["lichen"]
    assert report["ingestion"]["by_status"] == {"completed": 1}
