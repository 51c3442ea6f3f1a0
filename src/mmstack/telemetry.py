"""OpenTelemetry, off by default: with `telemetry.logs_endpoint`, every log record also goes
by OTLP/HTTP to a collector (Loki 3 takes it at `/otlp/v1/logs`); with
`telemetry.traces_endpoint`, spans of HTTP requests, searches, model calls and ingestion
jobs go to a trace store (Tempo, Jaeger, an OpenTelemetry collector). Until `start` runs,
the spans are OpenTelemetry's no-ops."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mmstack.config.logging import request_id_var
from mmstack.config.settings import TelemetrySettings

tracer = trace.get_tracer("mmstack")
_propagator = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, for work carried on elsewhere (a job);
    None when no span is recorded (tracing off)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def links_to(traceparents: Iterable[str | None]) -> list[trace.Link]:
    """Links from a span to the spans behind `traceparents` (a batch of jobs is linked
    to each request that queued one: a batch has many origins, so none is its parent)."""
    links = []
    for traceparent in dict.fromkeys(t for t in traceparents if t):
        context = trace.get_current_span(_propagator.extract({"traceparent": traceparent}))
        if context.get_span_context().is_valid:
            links.append(trace.Link(context.get_span_context()))
    return links


@contextmanager
def span(
    name: str, attributes: Mapping[str, Any] | None = None, *, links: Sequence[trace.Link] = ()
) -> Iterator[trace.Span]:
    """A span named `name` around the block, with the request id of the request served."""
    with tracer.start_as_current_span(name, links=links) as current:
        request_id = request_id_var.get()
        if request_id:
            current.set_attribute("mmstack.request_id", request_id)
        for key, value in (attributes or {}).items():
            if value is not None:
                current.set_attribute(key, value)
        yield current


class _RequestIdAttribute(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def start(settings: TelemetrySettings, role: str) -> Callable[[], None]:
    """Export what `settings` asks for, as service `settings.service_name` (instance: this
    host and process, role `role`: api or worker); returns what flushes and stops it."""
    if not settings.logs_endpoint and not settings.traces_endpoint:
        return lambda: None
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create(
        {
            "service.name": settings.service_name,
            "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
            "mmstack.role": role,
        }
    )
    stops: list[Callable[[], None]] = []
    if settings.logs_endpoint:
        stops.append(_export_logs(settings.logs_endpoint, resource))
    if settings.traces_endpoint:
        stops.append(_export_traces(settings.traces_endpoint, resource))

    def stop() -> None:
        for each in stops:
            each()

    return stop


def _export_logs(endpoint: str, resource: Any) -> Callable[[], None]:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint)))
    handler = LoggingHandler(logger_provider=provider)
    handler.addFilter(_RequestIdAttribute())
    root = logging.getLogger()
    root.addHandler(handler)
    # The exporter's own failures must not feed back into what it exports.
    logging.getLogger("opentelemetry").propagate = False

    def stop() -> None:
        root.removeHandler(handler)
        provider.shutdown()

    return stop


def _export_traces(endpoint: str, resource: Any) -> Callable[[], None]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider.shutdown
