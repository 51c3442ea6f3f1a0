"""Prometheus' configuration for a deployment: what to scrape (every API replica's and
worker's `/metrics`, with the metrics token) and the alert rules operators of an LLM
service need (errors, latency, backlog, processes down, disk filling, backups late, model
backends failing). `mmstack deploy monitoring` writes them; `promtool` checks them in the
tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from mmstack.ops.stack_file import StackFile

API_PORT: Final = 8000
WORKER_METRICS_PORT: Final = 9100
RULES_FILE: Final = "mmstack-rules.yml"
CONFIG_FILE: Final = "prometheus.yml"
MONITORING_DIR: Final = "monitoring"  # beside a compose file
METRICS_TOKEN: Final = "metrics-token"  # noqa: S105 (the stack file's secret name)
GENERATED_NAMES: Final = {"prometheus-config": CONFIG_FILE, "prometheus-rules": RULES_FILE}

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


def prometheus_config(
    stack: StackFile, env: str, *, token_file: str, rules_dir: str
) -> dict[str, Any]:
    """Scrape every replica of the services that run mmstack (compose's DNS names each),
    the API on its port and workers on their metrics port, with the token."""
    services = stack.resolved(env)
    jobs = []
    for name, service in sorted(services.items()):
        if not service.command or service.command[0] != "mmstack":
            continue
        port = API_PORT if service.command[1:2] == ["up"] else WORKER_METRICS_PORT
        role = "api" if port == API_PORT else "worker"
        jobs.append(
            {
                "job_name": f"mmstack-{role}",
                "authorization": {"credentials_file": token_file},
                "dns_sd_configs": [{"names": [name], "type": "A", "port": port}],
            }
        )
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [f"{rules_dir}/{RULES_FILE}"],
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


def write_monitoring(
    stack: StackFile, env: str, out: Path, *, token_file: str, rules_dir: str
) -> list[Path]:
    """prometheus.yml and the rules file in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    config = out / CONFIG_FILE
    config.write_text(
        yaml.safe_dump(
            prometheus_config(stack, env, token_file=token_file, rules_dir=rules_dir),
            sort_keys=False,
        )
    )
    rules = out / RULES_FILE
    rules.write_text(yaml.safe_dump(alert_rules(), sort_keys=False))
    return [config, rules]
