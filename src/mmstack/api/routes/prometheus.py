"""`/metrics`: Prometheus' text format. The counters and histograms every layer records, and,
read at each scrape, the state of the stack: jobs by kind and state, the oldest waiting
job's age, chunks and vectors held, database connections in use."""

from __future__ import annotations

import hmac
import ipaddress
import shutil
import time
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mmstack import metrics
from mmstack.api.deps import StackDep
from mmstack.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from mmstack.stack import Stack
from mmstack.stack.backups import BACKUP_JOB
from mmstack.store.chunks import chunk_count
from mmstack.store.jobs import job_states

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def serve_metrics(request: Request, stack: StackDep) -> Response:
    settings = stack.settings.metrics
    if not settings.enabled:
        raise NotFoundError("metrics are turned off (metrics.enabled)")
    _authorize(request, settings.token.get_secret_value() if settings.token else None)
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(stack))
    if "application/openmetrics-text" in request.headers.get("accept", ""):
        # OpenMetrics carries the exemplars (request ids); one `# EOF` ends the whole.
        from prometheus_client.openmetrics import exposition as openmetrics

        render = openmetrics.generate_latest
        both = render(metrics.registry()).removesuffix(b"# EOF\n")  # type: ignore[no-untyped-call]
        body = both + render(state)  # type: ignore[no-untyped-call]
        return Response(body, media_type=openmetrics.CONTENT_TYPE_LATEST)
    body = generate_latest(metrics.registry()) + generate_latest(state)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _authorize(request: Request, token: str | None) -> None:
    if token is not None:
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
            raise AuthenticationError("/metrics needs the metrics token (metrics.token)")
        return
    client = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(client).is_loopback
    except ValueError:
        local = False
    if not local:
        raise PermissionDeniedError(
            "/metrics answers only this host's clients unless metrics.token is set"
        )


class StateCollector(Collector):
    """Gauges read from the stack at each scrape (once, whatever the process count)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        with self._stack.db.session() as session:
            states, oldest = job_states(session)
            chunks = chunk_count(session)
        backed_up = self._stack.queue.last_succeeded(BACKUP_JOB)
        jobs = GaugeMetricFamily(
            "mmstack_jobs", "Background jobs by kind and state", labels=["kind", "state"]
        )
        for (kind, state), count in sorted(states.items()):
            jobs.add_metric([kind, state], count)
        yield jobs
        yield GaugeMetricFamily(
            "mmstack_jobs_oldest_waiting_seconds",
            "Age of the oldest queued job that is due (0: none)",
            value=max(0.0, now - oldest) if oldest is not None else 0.0,
        )
        yield GaugeMetricFamily("mmstack_chunks", "Chunks in the database", value=chunks)
        yield GaugeMetricFamily(
            "mmstack_vector_points",
            "Points in the vector index",
            value=self._stack.vectors.stats().points,
        )
        disk = shutil.disk_usage(self._stack.settings.data_dir)
        yield GaugeMetricFamily(
            "mmstack_data_disk_free_bytes", "Free bytes on the data directory's disk", disk.free
        )
        yield GaugeMetricFamily(
            "mmstack_data_disk_size_bytes", "Size of the data directory's disk", disk.total
        )
        if backed_up is not None:
            yield GaugeMetricFamily(
                "mmstack_backup_last_success_timestamp_seconds",
                "When the last backup job succeeded (Unix time)",
                backed_up,
            )
        pool = self._stack.db.engine.pool
        yield GaugeMetricFamily(
            "mmstack_db_connections_in_use",
            "Database connections checked out of this process's pool",
            value=getattr(pool, "checkedout", lambda: 0)(),
        )
