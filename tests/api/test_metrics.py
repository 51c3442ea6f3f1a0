"""`/metrics`: never public (a token, or this host only), Prometheus' text format, and series
that move with the requests made; scraped by a real Prometheus (Debian's package)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mmstack.api.app import create_app
from mmstack.config.settings import (
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    MetricsSettings,
    Settings,
)
from tests.api.live_server import admin_key, client_stack, serve
from tests.standins.scale_out import free_port, wait_ready

TOKEN = "metrics-token-for-the-tests"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    live = settings.model_copy(
        update={
            "ingest": IngestSettings(workers=1, retry_base_seconds=0.01),
            "metrics": MetricsSettings(token=TOKEN),
        }
    )
    with TestClient(create_app(live)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin_key(client_stack(test_client))}"
        yield test_client


def scrape(client: TestClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def test_metrics_need_their_token(client: TestClient) -> None:
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_authentication"
    # A user's own key is not the metrics token.
    assert client.get("/metrics").status_code == 401


def test_series_move_with_requests(client: TestClient) -> None:
    before = scrape(client)
    client.post("/api/collections", json={"name": "notes"})
    client.post(
        "/api/collections/notes/files",
        files={"files": ("a.txt", b"The lighthouse keeper logs the tides at dawn.", "text/plain")},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = client.get("/api/collections/notes/files").json()["data"]
        if files and files[0]["status"] == "completed":
            break
        time.sleep(0.1)
    for _ in range(3):
        assert client.post("/api/search", json={"query": "tides", "top_k": 3}).status_code == 200
    assert client.get("/api/collections/nowhere").status_code == 404
    bad = client.get("/api/collections", headers={"Authorization": "Bearer mmk_x_y"})
    assert bad.status_code == 401
    after = scrape(client)

    route = {"route": "/api/search", "method": "POST", "status": "200"}
    assert (
        value(after, "mmstack_http_requests_total", **route)
        - value(before, "mmstack_http_requests_total", **route)
        == 3
    )
    missing = {"route": "/api/collections/{collection}", "method": "GET", "status": "404"}
    assert value(after, "mmstack_http_requests_total", **missing) >= 1
    duration = {"route": "/api/search", "method": "POST"}
    assert value(after, "mmstack_http_request_duration_seconds_count", **duration) >= 3
    assert value(after, "mmstack_search_duration_seconds_count", mode="hybrid") >= 3
    assert value(after, "mmstack_auth_failures_total", reason="key") >= 1
    assert value(after, "mmstack_ingest_files_total", outcome="completed") >= 1
    assert value(after, "mmstack_ingest_stage_seconds_count", stage="embed") >= 1
    assert value(after, "mmstack_jobs_finished_total", kind="ingest_file", outcome="succeeded") >= 1
    assert value(after, "mmstack_jobs", kind="ingest_file", state="succeeded") >= 1
    assert value(after, "mmstack_chunks") >= 1
    assert value(after, "mmstack_vector_points") >= 1
    assert ("mmstack_db_connections_in_use", ()) in samples(after)
    assert any(name == "mmstack_build_info" for name, _ in samples(after))


def test_without_a_token_only_this_host_may_read(settings: Settings) -> None:
    with TestClient(create_app(settings)) as elsewhere:  # TestClient's peer is "testclient"
        refused = elsewhere.get("/metrics")
    assert refused.status_code == 403
    assert "only this host" in refused.json()["error"]["message"]
    local = settings.model_copy(
        update={"llm": LlmSettings(embedded=EmbeddedLlmSettings(enabled=False))}
    )
    with serve(local) as server:
        base = server.base_url.removesuffix("/v1")
        assert httpx.get(f"{base}/metrics", timeout=30).status_code == 200


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs Debian's prometheus")
def test_a_real_prometheus_scrapes_a_live_server(tmp_path: Path, settings: Settings) -> None:
    live = settings.model_copy(
        update={
            "metrics": MetricsSettings(token=TOKEN),
            "llm": LlmSettings(embedded=EmbeddedLlmSettings(enabled=False)),
        }
    )
    with serve(live) as server:
        target = server.base_url.removesuffix("/v1").removeprefix("http://")
        with prometheus(tmp_path, target) as query:
            searches = 'mmstack_http_requests_total{route="/api/search",status="200"}'
            first = wait_for(query, "up", lambda found: found and found[0] == 1.0)
            assert first == [1.0]
            for _ in range(5):
                httpx.post(
                    f"{server.base_url.removesuffix('/v1')}/api/search",
                    json={"query": "anything"},
                    headers=server.headers,
                    timeout=30,
                ).raise_for_status()
            counted = wait_for(query, searches, lambda found: bool(found) and found[0] >= 5)
            assert counted[0] >= 5
            for series in (
                "mmstack_search_duration_seconds_count",
                "mmstack_jobs_oldest_waiting_seconds",
                "mmstack_vector_points",
                "mmstack_build_info",
            ):
                assert query(series), series


def wait_for(query: Any, expression: str, done: Any) -> list[float]:
    deadline = time.monotonic() + 60
    found: list[float] = []
    while time.monotonic() < deadline:
        found = query(expression)
        if done(found):
            return found
        time.sleep(0.5)
    raise AssertionError(f"{expression}: {found}")


def prometheus(tmp_path: Path, target: str) -> Any:
    """A Prometheus scraping `target` every second with the metrics token; yields a query
    function (instant query: the values found)."""
    from contextlib import contextmanager

    @contextmanager
    def running() -> Iterator[Any]:
        port = free_port()
        (tmp_path / "token").write_text(TOKEN)
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: mmstack\n"
            f"    authorization: {{credentials_file: {tmp_path / 'token'}}}\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        log = (tmp_path / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url + "/-/ready", process, "prometheus did not start", seconds=60)

            def query(expression: str) -> list[float]:
                answer = httpx.get(f"{url}/api/v1/query", params={"query": expression}, timeout=10)
                answer.raise_for_status()
                return [float(item["value"][1]) for item in answer.json()["data"]["result"]]

            yield query
        finally:
            process.terminate()
            process.wait(30)
            log.close()

    return running()


def test_openmetrics_links_a_request_to_its_log_line(client: TestClient) -> None:
    answered = client.post("/api/search", json={"query": "tides"})
    request_id = answered.headers["x-request-id"]
    exposition = client.get(
        "/metrics",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/openmetrics-text; version=1.0.0",
        },
    )
    assert exposition.headers["content-type"].startswith("application/openmetrics-text")
    assert exposition.text.endswith("# EOF\n")
    assert exposition.text.count("# EOF") == 1
    assert f'# {{request_id="{request_id}"}}' in exposition.text


def test_turned_off_nothing_is_recorded_or_served(settings: Settings) -> None:
    from mmstack import metrics as recorded

    off = settings.model_copy(update={"metrics": MetricsSettings(enabled=False, token=TOKEN)})
    searches = recorded.search_duration.labels("hybrid")
    with TestClient(create_app(off)) as client:
        client.headers["Authorization"] = f"Bearer {admin_key(client_stack(client))}"
        before = searches._sum.get()  # the histogram's running total of seconds
        assert client.post("/api/search", json={"query": "tides"}).status_code == 200
        assert searches._sum.get() == before
        served = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert served.status_code == 404
    recorded.set_recording(True)
