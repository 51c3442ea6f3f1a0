"""The Prometheus metrics every layer records into (prometheus_client), served at `/metrics`.

One process keeps its metrics in memory. Several processes serving one port (`mmstack up
--workers N`) keep them in files under `PROMETHEUS_MULTIPROC_DIR`, which must be set before
this module is first imported (the command does it), and `/metrics` sums them.

Names follow Prometheus' conventions: `mmstack_` prefix, base units (seconds), `_total`
counters. Labels are bounded: a route's template, never its path; a model id from the
configuration; a fixed set of stages, modes and reasons.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MULTIPROCESS: Final = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Whether the per-request metrics (HTTP, search) are recorded: `metrics.enabled` (the
# server sets it at start; bench/metrics_cost.py measures the difference).
_recording = True


def recording() -> bool:
    return _recording


def set_recording(on: bool) -> None:
    global _recording
    _recording = on


# Seconds, from a cached keyword lookup to a long generation or a large file's parsing.
LATENCY_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip

http_requests = Counter(
    "mmstack_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
http_duration = Histogram(
    "mmstack_http_request_duration_seconds",
    "Time to answer an HTTP request (to the end of its body), by route template and method",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)

llm_requests = Counter(
    "mmstack_llm_requests",
    "Requests to a language model, by model, backend and outcome (ok, error)",
    ["model", "backend", "outcome"],
)
llm_tokens = Counter(
    "mmstack_llm_tokens",
    "Tokens a language model read (prompt) and wrote (completion)",
    ["model", "backend", "direction"],
)
llm_first_token = Histogram(
    "mmstack_llm_time_to_first_token_seconds",
    "Time from a request to a model until its first token (streamed) or its answer",
    ["model", "backend"],
    buckets=LATENCY_BUCKETS,
)
llm_token_rate = Histogram(
    "mmstack_llm_tokens_per_second",
    "A completion's tokens per second of generation (after the first token)",
    ["model", "backend"],
    buckets=(1, 2, 5, 10, 20, 40, 80, 160, 320, 640),
)

search_duration = Histogram(
    "mmstack_search_duration_seconds",
    "Time to search, by mode (hybrid, keyword, vector)",
    ["mode"],
    buckets=LATENCY_BUCKETS,
)

ingest_stage = Histogram(
    "mmstack_ingest_stage_seconds",
    "Time a batch of files spent in one ingestion stage (parse, embed, index)",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
ingest_files = Counter(
    "mmstack_ingest_files",
    "Files whose ingestion ended, by outcome (completed, failed, deleted meanwhile)",
    ["outcome"],
)
ingest_chunks = Counter("mmstack_ingest_chunks", "Chunks written by ingestion")
jobs_finished = Counter(
    "mmstack_jobs_finished",
    "Background jobs that ended, by kind and outcome (succeeded, retried, failed)",
    ["kind", "outcome"],
)

auth_failures = Counter(
    "mmstack_auth_failures",
    "Refused credentials, by reason (password, key, token, mfa, locked)",
    ["reason"],
)
auth_lockouts = Counter("mmstack_auth_lockouts", "Accounts locked after failed logins in a row")
rate_limited = Counter(
    "mmstack_rate_limited",
    "Requests refused with 429, by the limit that refused them",
    ["limit"],
)

build_info = Gauge(
    "mmstack_build_info",
    "1, labelled with the running version",
    ["version"],
    multiprocess_mode="max",
)


def registry() -> CollectorRegistry:
    """What `/metrics` serves: this process's metrics, or every process's summed."""
    if not MULTIPROCESS:
        from prometheus_client import REGISTRY

        return REGISTRY
    from prometheus_client import multiprocess

    collecting = CollectorRegistry()
    multiprocess.MultiProcessCollector(collecting)  # type: ignore[no-untyped-call]
    return collecting


def serve(host: str, port: int, token: str | None) -> Callable[[], None]:
    """Serve this process's metrics at http://host:port/metrics in a thread (a process
    without the API's server: `mmstack worker`), to scrapers bearing `token` (required on
    any address but loopback). Returns the function that stops it."""
    import hmac
    import ipaddress
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app

    if token is None and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"serving metrics on {host} needs metrics.token (or a loopback host)")
    exposition = make_wsgi_app(registry())

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sent = environ.get("HTTP_AUTHORIZATION", "")
        if token is not None and not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"the metrics token is needed\n"]
        return exposition(environ, start_response)  # type: ignore[no-any-return]

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server(host, port, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
