"""Grafana for a deployment: its data sources (the deployment's Prometheus and Loki) and
mmstack's dashboards (overview, LLM, ingestion, search, auth), built from mmstack's own
metric names with Grafana's foundation SDK so that the JSON is the shape Grafana reads.
The compose and Helm outputs mount them into Grafana's provisioning directories."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import yaml
from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

PROMETHEUS_UID: Final = "mmstack-prometheus"
LOKI_UID: Final = "mmstack-loki"
DATASOURCES_FILE: Final = "grafana-datasources.yml"
PROVIDER_FILE: Final = "grafana-dashboards.yml"
_PROMETHEUS: Final = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
_RATE: Final = "$__rate_interval"
GRID_WIDTH: Final = 24  # Grafana's grid
FIGURE_HEIGHT: Final = 4
CHART_HEIGHT: Final = 8


@dataclass(frozen=True)
class Chart:
    """A time series panel: one query per legend (legend -> PromQL)."""

    title: str
    queries: dict[str, str]
    unit: str = "short"
    description: str = ""


@dataclass(frozen=True)
class Figure:
    """A single-number panel."""

    title: str
    query: str
    unit: str = "short"


def _quantile(q: float, metric: str, by: str = "", where: str = "") -> str:
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) (rate({metric}_bucket{{{where}}}[{_RATE}])))"


# Each dashboard: (uid, title, figures on top, charts below).
DASHBOARDS: Final[list[tuple[str, str, list[Figure], list[Chart]]]] = [
    (
        "mmstack-overview",
        "mmstack: overview",
        [
            Figure("API processes up", 'sum(up{job="mmstack-api"})'),
            Figure("Workers up", 'sum(up{job="mmstack-worker"})'),
            Figure(
                "Server errors (5 min)",
                'sum(rate(mmstack_http_requests_total{status=~"5.."}[5m]))'
                " / sum(rate(mmstack_http_requests_total[5m]))",
                "percentunit",
            ),
            Figure(
                "Data disk free",
                "min(mmstack_data_disk_free_bytes / mmstack_data_disk_size_bytes)",
                "percentunit",
            ),
            Figure(
                "Last backup",
                "time() - max(mmstack_backup_last_success_timestamp_seconds)",
                "s",
            ),
        ],
        [
            Chart(
                "Requests by status",
                {"{{status}}": f"sum by (status) (rate(mmstack_http_requests_total[{_RATE}]))"},
                "reqps",
            ),
            Chart(
                "API latency",
                {
                    "p50": _quantile(0.5, "mmstack_http_request_duration_seconds"),
                    "p95": _quantile(0.95, "mmstack_http_request_duration_seconds"),
                    "p99": _quantile(0.99, "mmstack_http_request_duration_seconds"),
                },
                "s",
            ),
            Chart(
                "Slowest routes (p95)",
                {
                    "{{route}}": "topk(5, "
                    + _quantile(0.95, "mmstack_http_request_duration_seconds", "route")
                    + ")"
                },
                "s",
            ),
            Chart(
                "Database connections in use",
                {"{{instance}}": "mmstack_db_connections_in_use"},
            ),
        ],
    ),
    (
        "mmstack-llm",
        "mmstack: LLM",
        [
            Figure(
                "Model calls failing (5 min)",
                'sum(rate(mmstack_llm_requests_total{outcome="error"}[5m]))'
                " / sum(rate(mmstack_llm_requests_total[5m]))",
                "percentunit",
            ),
            Figure(
                "Tokens out (1 h)",
                'sum(increase(mmstack_llm_tokens_total{direction="completion"}[1h]))',
            ),
        ],
        [
            Chart(
                "Calls by model and outcome",
                {
                    "{{model}} {{outcome}}": "sum by (model, outcome) "
                    f"(rate(mmstack_llm_requests_total[{_RATE}]))"
                },
                "reqps",
            ),
            Chart(
                "Tokens by model",
                {
                    "{{model}} {{direction}}": "sum by (model, direction) "
                    f"(rate(mmstack_llm_tokens_total[{_RATE}]))"
                },
                "short",
                "Tokens a second, into the model (the prompt) and out of it",
            ),
            Chart(
                "Time to first token (p95)",
                {"{{model}}": _quantile(0.95, "mmstack_llm_time_to_first_token_seconds", "model")},
                "s",
            ),
            Chart(
                "Tokens a second per answer (p50)",
                {"{{model}}": _quantile(0.5, "mmstack_llm_tokens_per_second", "model")},
            ),
        ],
    ),
    (
        "mmstack-ingestion",
        "mmstack: ingestion",
        [
            Figure("Jobs waiting", 'sum(mmstack_jobs{state="queued"})'),
            Figure("Oldest waiting job", "max(mmstack_jobs_oldest_waiting_seconds)", "s"),
            Figure("Chunks", "max(mmstack_chunks)"),
            Figure("Vector points", "max(mmstack_vector_points)"),
        ],
        [
            Chart(
                "Files ingested",
                {"{{outcome}}": f"sum by (outcome) (rate(mmstack_ingest_files_total[{_RATE}]))"},
                "ops",
            ),
            Chart(
                "Chunks written",
                {"chunks": f"sum(rate(mmstack_ingest_chunks_total[{_RATE}]))"},
                "ops",
            ),
            Chart(
                "Time per stage (p95)",
                {"{{stage}}": _quantile(0.95, "mmstack_ingest_stage_seconds", "stage")},
                "s",
            ),
            Chart(
                "Jobs by state",
                {"{{kind}} {{state}}": "sum by (kind, state) (mmstack_jobs)"},
            ),
            Chart(
                "Jobs finished",
                {
                    "{{kind}} {{outcome}}": "sum by (kind, outcome) "
                    f"(rate(mmstack_jobs_finished_total[{_RATE}]))"
                },
                "ops",
            ),
        ],
    ),
    (
        "mmstack-search",
        "mmstack: search",
        [
            Figure(
                "Search p95 (5 min)",
                "histogram_quantile(0.95, sum by (le) "
                "(rate(mmstack_search_duration_seconds_bucket[5m])))",
                "s",
            ),
        ],
        [
            Chart(
                "Searches by mode",
                {
                    "{{mode}}": "sum by (mode) "
                    f"(rate(mmstack_search_duration_seconds_count[{_RATE}]))"
                },
                "reqps",
            ),
            Chart(
                "Search latency (p50)",
                {"{{mode}}": _quantile(0.5, "mmstack_search_duration_seconds", "mode")},
                "s",
            ),
            Chart(
                "Search latency (p95)",
                {"{{mode}}": _quantile(0.95, "mmstack_search_duration_seconds", "mode")},
                "s",
            ),
        ],
    ),
    (
        "mmstack-auth",
        "mmstack: auth",
        [
            Figure("Lockouts (24 h)", "sum(increase(mmstack_auth_lockouts_total[24h]))"),
            Figure("Failed sign-ins (1 h)", "sum(increase(mmstack_auth_failures_total[1h]))"),
        ],
        [
            Chart(
                "Authentication failures by reason",
                {"{{reason}}": f"sum by (reason) (rate(mmstack_auth_failures_total[{_RATE}]))"},
                "ops",
            ),
            Chart(
                "Refused by a rate limit",
                {"{{limit}}": f"sum by (limit) (rate(mmstack_rate_limited_total[{_RATE}]))"},
                "ops",
            ),
            Chart(
                "Requests refused (401, 403, 429)",
                {
                    "{{status}}": "sum by (status) (rate(mmstack_http_requests_total"
                    f'{{status=~"401|403|429"}}[{_RATE}]))'
                },
                "reqps",
            ),
        ],
    ),
]


def _query(expression: str, legend: str, ref: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expression)
        .legend_format(legend)
        .ref_id(ref)
        .datasource(_PROMETHEUS)
    )


def _figure(figure: Figure, place: GridPos) -> stat.Panel:
    return (
        stat.Panel()
        .title(figure.title)
        .datasource(_PROMETHEUS)
        .unit(figure.unit)
        .with_target(_query(figure.query, "", "A"))
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
        .graph_mode(BigValueGraphMode.AREA)
        .grid_pos(place)
    )


def _chart(chart: Chart, place: GridPos) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(chart.title)
        .datasource(_PROMETHEUS)
        .unit(chart.unit)
        .legend(
            common.VizLegendOptions()
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .grid_pos(place)
    )
    if chart.description:
        panel = panel.description(chart.description)
    for index, (legend, expression) in enumerate(chart.queries.items()):
        panel = panel.with_target(_query(expression, legend, chr(ord("A") + index)))
    return panel


def dashboard(uid: str, title: str, figures: list[Figure], charts: list[Chart]) -> dict[str, Any]:
    """Figures in a row across the top, then the charts two abreast."""
    builder = (
        dash.Dashboard(title)
        .uid(uid)
        .tags(["mmstack"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .editable()
    )
    panels: list[stat.Panel | timeseries.Panel] = []
    width = GRID_WIDTH // max(1, len(figures))
    for index, figure in enumerate(figures):
        panels.append(_figure(figure, GridPos(h=FIGURE_HEIGHT, w=width, x=index * width, y=0)))
    half = GRID_WIDTH // 2
    for index, chart in enumerate(charts):
        row = FIGURE_HEIGHT + (index // 2) * CHART_HEIGHT
        panels.append(_chart(chart, GridPos(h=CHART_HEIGHT, w=half, x=(index % 2) * half, y=row)))
    for number, panel in enumerate(panels, start=1):
        builder = builder.with_panel(panel.id(number))
    encoded: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(builder.build()))
    return encoded


def dashboard_file(uid: str) -> str:
    return f"dashboard-{uid.removeprefix('mmstack-')}.json"


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON, for every dashboard."""
    return {
        dashboard_file(uid): dashboard(uid, title, figures, charts)
        for uid, title, figures, charts in DASHBOARDS
    }


def datasources(prometheus_url: str, loki_url: str | None) -> dict[str, Any]:
    sources: list[dict[str, Any]] = [
        {
            "name": "Prometheus",
            "uid": PROMETHEUS_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": prometheus_url,
            "isDefault": True,
            "editable": False,
            "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
        }
    ]
    if loki_url:
        sources.append(
            {
                "name": "Loki",
                "uid": LOKI_UID,
                "type": "loki",
                "access": "proxy",
                "url": loki_url,
                "editable": False,
            }
        )
    return {"apiVersion": 1, "datasources": sources}


def dashboard_provider(directory: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "mmstack",
                "folder": "mmstack",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": directory, "foldersFromFilesStructure": False},
            }
        ],
    }


def grafana_files(prometheus_url: str, loki_url: str | None, dashboards_dir: str) -> dict[str, str]:
    """File name -> text: the data sources, the dashboard provider and the dashboards."""
    files = {
        DATASOURCES_FILE: yaml.safe_dump(datasources(prometheus_url, loki_url), sort_keys=False),
        PROVIDER_FILE: yaml.safe_dump(dashboard_provider(dashboards_dir), sort_keys=False),
    }
    for name, document in dashboards().items():
        files[name] = json.dumps(document, indent=2, sort_keys=True) + "\n"
    return files
