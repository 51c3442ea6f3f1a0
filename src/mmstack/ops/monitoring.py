"""Prometheus' configuration for a deployment: what to scrape (every API replica's and
worker's `/metrics`, with the metrics token) and the alert rules operators of an LLM
service need (errors, latency, backlog, processes down, disk filling, backups late, model
backends failing). `mmstack deploy monitoring` writes them; `promtool` checks them in the
tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

import yaml

from mmstack.ops.grafana import (
    DASHBOARDS,
    DATASOURCES_FILE,
    PROVIDER_FILE,
    dashboard_file,
    grafana_files,
)
from mmstack.ops.secrets_render import ROTATION_RULES_PATTERN
from mmstack.ops.stack_file import Service, StackFile

API_PORT: Final = 8000
WORKER_METRICS_PORT: Final = 9100
RULES_FILE: Final = "mmstack-rules.yml"
CONFIG_FILE: Final = "prometheus.yml"
MONITORING_DIR: Final = "monitoring"  # beside a compose file
METRICS_TOKEN: Final = "metrics-token"  # noqa: S105 (the stack file's secret name)
SINGLE_FILES: Final = {
    "prometheus-config": CONFIG_FILE,
    "prometheus-rules": RULES_FILE,
    "grafana-datasources": DATASOURCES_FILE,
    "grafana-dashboard-provider": PROVIDER_FILE,
}
DASHBOARDS_DIR: Final = "/etc/grafana/dashboards/mmstack"
PROMETHEUS_PORT: Final = 9090
LOKI_PORT: Final = 3100

# (name, expression, for, severity, summary). Thresholds an operator starts from; the
# generation routes are left out of the latency rule, their time is the model's.
ALERTS: Final[list[tuple[str, str, str, str, str]]] = [
    (
        "MmstackApiDown",
        'up{job="mmstack-api"} == 0',
        "2m",
        "critical",
        "An mmstack API process does not answer its metrics scrape",
    ),
    (
        "MmstackWorkerDown",
        'up{job="mmstack-worker"} == 0 or absent(up{job="mmstack-worker"})',
        "5m",
        "critical",
        "No mmstack worker answers: files are not ingested",
    ),
    (
        "MmstackApiErrors",
        'sum(rate(mmstack_http_requests_total{status=~"5.."}[5m]))'
        " / sum(rate(mmstack_http_requests_total[5m])) > 0.05",
        "10m",
        "warning",
        "More than 5 % of API requests fail with a server error",
    ),
    (
        "MmstackApiSlow",
        "histogram_quantile(0.95, sum by (le) (rate(mmstack_http_request_duration_seconds_bucket"
        '{route!~"/v1/chat/completions|/v1/responses|/v1/audio/.*|.*/files"}[5m]))) > 2',
        "10m",
        "warning",
        "The 95th percentile of API requests (besides generation and uploads) is over 2 s",
    ),
    (
        "MmstackQueueBacklog",
        "max(mmstack_jobs_oldest_waiting_seconds) > 900",
        "10m",
        "warning",
        "A job has waited over 15 minutes: the workers do not keep up",
    ),
    (
        "MmstackLlmErrors",
        'sum by (model) (rate(mmstack_llm_requests_total{outcome="error"}[5m]))'
        " / sum by (model) (rate(mmstack_llm_requests_total[5m])) > 0.2",
        "10m",
        "warning",
        "More than 20 % of a model's calls fail",
    ),
    (
        "MmstackDiskFilling",
        "min(mmstack_data_disk_free_bytes / mmstack_data_disk_size_bytes) < 0.1",
        "15m",
        "warning",
        "The data directory's disk has less than 10 % free",
    ),
    (
        "MmstackDiskFullIn24h",
        "predict_linear(mmstack_data_disk_free_bytes[6h], 24 * 3600) < 0",
        "1h",
        "critical",
        "At this rate the data directory's disk is full within a day",
    ),
    (
        "MmstackBackupLate",
        "time() - max(mmstack_backup_last_success_timestamp_seconds) > 2 * 86400",
        "1h",
        "warning",
        "No backup has succeeded for two days",
    ),
]


def metrics_port(service: Service) -> int | None:
    """Where a service serves its /metrics: the API on its port, a worker on its own;
    None for a service that does not run mmstack."""
    if not service.command or service.command[0] != "mmstack":
        return None
    return API_PORT if service.command[1:2] == ["up"] else WORKER_METRICS_PORT


def prometheus_config(
    stack: StackFile, env: str, *, token_file: str, rules_dir: str, host_suffix: str = ""
) -> dict[str, Any]:
    """Scrape every replica of the services that run mmstack, found by DNS (compose's
    service names; on Kubernetes their headless services, `host_suffix` "-pods"), the
    API on its port and workers on their metrics port, with the token. The rules: the
    generated ones, and the secrets' rotation rules `mmstack secrets render` writes beside
    the token (a pattern, so that Prometheus starts before they are rendered)."""
    services = stack.resolved(env)
    jobs = []
    for name, service in sorted(services.items()):
        if (port := metrics_port(service)) is None:
            continue
        role = "api" if port == API_PORT else "worker"
        jobs.append(
            {
                "job_name": f"mmstack-{role}",
                "authorization": {"credentials_file": token_file},
                "dns_sd_configs": [{"names": [name + host_suffix], "type": "A", "port": port}],
            }
        )
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [
            f"{rules_dir}/{RULES_FILE}",
            str(PurePosixPath(token_file).parent / ROTATION_RULES_PATTERN),
        ],
        "scrape_configs": jobs,
    }


def alert_rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "mmstack",
                "rules": [
                    {
                        "alert": name,
                        "expr": expression,
                        "for": duration,
                        "labels": {"severity": severity},
                        "annotations": {"summary": summary},
                    }
                    for name, expression, duration, severity, summary in ALERTS
                ],
            }
        ]
    }


@dataclass(frozen=True)
class Mount:
    """A generated file a service mounts: its name (in the monitoring directory, and as
    the compose config or ConfigMap key) and its path in the container."""

    name: str
    target: str


def reads_rotation_rules(service: Service) -> bool:
    """Whether `service` is the Prometheus that evaluates the secrets' rotation rules."""
    return any(g.kind == "prometheus-config" for g in service.generated)


def mounts(service: Service) -> list[Mount]:
    found: list[Mount] = []
    for generated in service.generated:
        if generated.kind == "grafana-dashboards":  # a directory: every dashboard in it
            names = [dashboard_file(uid) for uid, *_ in DASHBOARDS]  # without building them
            found += [Mount(name, f"{generated.target}/{name}") for name in names]
        else:
            found.append(Mount(SINGLE_FILES[generated.kind], generated.target))
    return found


def monitoring_files(
    stack: StackFile, env: str, *, token_file: str, rules_dir: str, host_suffix: str = ""
) -> dict[str, str]:
    """File name -> text: Prometheus' configuration and rules, and Grafana's provisioning
    and dashboards when a service of the environment mounts them."""
    config = prometheus_config(
        stack, env, token_file=token_file, rules_dir=rules_dir, host_suffix=host_suffix
    )
    files = {
        CONFIG_FILE: yaml.safe_dump(config, sort_keys=False),
        RULES_FILE: yaml.safe_dump(alert_rules(), sort_keys=False),
    }
    services = stack.resolved(env)
    kinds = {g.kind: g.target for s in services.values() for g in s.generated}
    if any(kind.startswith("grafana-") for kind in kinds):
        files |= grafana_files(
            _url_of(services, "prometheus-config", "prom/prometheus", PROMETHEUS_PORT)
            or f"http://prometheus:{PROMETHEUS_PORT}",
            _url_of(services, None, "grafana/loki", LOKI_PORT),
            kinds.get("grafana-dashboards", DASHBOARDS_DIR),
        )
    return files


def _url_of(
    services: dict[str, Service], generates: str | None, image: str, port: int
) -> str | None:
    """The URL of the service that mounts `generates`, or else runs `image`."""
    for name, service in services.items():
        if any(g.kind == generates for g in service.generated) or service.image.startswith(
            f"{image}:"
        ):
            return f"http://{name}:{port}"
    return None


def write_monitoring(
    stack: StackFile, env: str, out: Path, *, token_file: str, rules_dir: str
) -> list[Path]:
    """Every monitoring file (`monitoring_files`) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in monitoring_files(
        stack, env, token_file=token_file, rules_dir=rules_dir
    ).items():
        path = out / name
        path.write_text(text)
        written.append(path)
    return written
