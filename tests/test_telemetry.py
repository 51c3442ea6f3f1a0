"""OpenTelemetry export: a live app sends its spans and log records by OTLP/HTTP to a
local receiver that decodes them with OpenTelemetry's own protobuf messages (the protocol
Loki 3, Tempo and the OpenTelemetry collector speak)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mmstack.api.app import create_app
from mmstack.config.settings import IngestSettings, Settings, TelemetrySettings
from tests.api.live_server import admin_key, client_stack


class Receiver:
    """An OTLP/HTTP endpoint: /v1/logs and /v1/traces, protobuf bodies."""

    def __init__(self) -> None:
        self.logs: list[ExportLogsServiceRequest] = []
        self.traces: list[ExportTraceServiceRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Type"] == "application/x-protobuf"
                if self.path == "/v1/logs":
                    receiver.logs.append(ExportLogsServiceRequest.FromString(body))
                elif self.path == "/v1/traces":
                    receiver.traces.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200 if self.path in ("/v1/logs", "/v1/traces") else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[Any]:
        return [
            s
            for request in self.traces
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for s in scope.spans
        ]

    def records(self) -> list[Any]:
        return [
            r
            for request in self.logs
            for resource in request.resource_logs
            for scope in resource.scope_logs
            for r in scope.log_records
        ]


def _attributes(item: Any) -> dict[str, Any]:
    values = {}
    for kv in item.attributes:
        value = kv.value
        values[kv.key] = getattr(value, value.WhichOneof("value"))
    return values


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver()
    yield served
    served.server.shutdown()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_spans_and_logs_reach_the_collector(settings: Settings, receiver: Receiver) -> None:
    exported = settings.model_copy(
        update={
            "telemetry": TelemetrySettings(
                logs_endpoint=f"{receiver.url}/v1/logs",
                traces_endpoint=f"{receiver.url}/v1/traces",
                service_name="mmstack-test",
            ),
            "ingest": IngestSettings(workers=1, retry_base_seconds=0.01),
        }
    )
    access = logging.getLogger("mmstack.access")
    level = access.level
    access.setLevel(logging.INFO)  # as `mmstack up` logs
    try:
        with TestClient(create_app(exported)) as client:
            client.headers["Authorization"] = f"Bearer {admin_key(client_stack(client))}"
            searched = client.post("/api/search", json={"query": "barn owls"})
            assert searched.status_code == 200, searched.text
            missing = client.get("/api/collections/nothing-here")
            assert missing.status_code == 404
            assert client.post("/api/collections", json={"name": "traced"}).status_code == 201
            uploaded = client.post(
                "/api/collections/traced/files",
                files=[("files", ("owls.txt", b"Barn owls hunt voles at night.", "text/plain"))],
            )
            assert uploaded.status_code == 201, uploaded.text
            _wait_completed(client, "traced")
    finally:
        access.setLevel(level)
    # The app's end flushed both exporters.

    spans = receiver.spans()
    by_id = {s.span_id: s for s in spans}
    # Ours carries the request id (FastAPI adds spans of its own around and below it).
    http = next(
        s for s in spans if s.name == "POST /api/search" and "mmstack.request_id" in _attributes(s)
    )
    attributes = _attributes(http)
    assert attributes["http.response.status_code"] == 200
    assert attributes["http.route"] == "/api/search"
    assert attributes["mmstack.request_id"] == searched.headers["x-request-id"]
    search = next(s for s in spans if s.name == "search" and s.trace_id == http.trace_id)
    ancestors = []
    while search.parent_span_id:
        search = by_id[search.parent_span_id]
        ancestors.append(search)
    assert http in ancestors
    searched_span = next(s for s in spans if s.name == "search" and s.trace_id == http.trace_id)
    assert _attributes(searched_span)["mmstack.search.mode"] == "hybrid"
    resource = receiver.traces[0].resource_spans[0].resource
    assert _attributes(resource)["service.name"] == "mmstack-test"

    # The ingestion job ran on a worker thread, after the upload's request had ended: its
    # batch's span is not in the upload's trace but links to the upload's span.
    upload = next(
        s
        for s in spans
        if s.name == "POST /api/collections/{collection}/files"
        and _attributes(s).get("mmstack.request_id") == uploaded.headers["x-request-id"]
    )
    job = next(s for s in spans if s.name == "job ingest_file")
    assert job.trace_id != upload.trace_id
    assert [link.trace_id for link in job.links] == [upload.trace_id]
    linked = {link.span_id for link in job.links}
    assert linked & {s.span_id for s in spans if s.trace_id == upload.trace_id}

    records = receiver.records()
    refused = [
        r for r in records if _attributes(r).get("request_id") == missing.headers["x-request-id"]
    ]
    assert refused, [r.body.string_value for r in records]
    assert refused[0].severity_text in ("INFO", "WARNING")


def _wait_completed(client: TestClient, collection: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = client.get(f"/api/collections/{collection}/files").json()["data"]
        if files and all(f["status"] == "completed" for f in files):
            return
        assert all(f["status"] != "failed" for f in files), files
        time.sleep(0.05)
    raise AssertionError(f"ingestion did not finish: {files}")


def test_off_by_default_nothing_is_started() -> None:
    from mmstack import telemetry

    handlers = list(logging.getLogger().handlers)
    stop = telemetry.start(TelemetrySettings(), "api")
    assert logging.getLogger().handlers == handlers
    stop()  # a no-op: nothing was configured
