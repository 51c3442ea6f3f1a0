"""The generated Prometheus configuration and alert rules pass `promtool` (Debian's
prometheus package), scrape every mmstack API and worker replica with the metrics token,
and every metric the rules use is one mmstack serves."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from mmstack.api.app import create_app
from mmstack.config.settings import MetricsSettings, Settings
from mmstack.ops.compose import write_compose
from mmstack.ops.monitoring import ALERTS, write_monitoring
from mmstack.ops.secrets_render import render
from mmstack.ops.secrets_rotation import init_secrets
from mmstack.ops.secrets_store import SecretsStore, load_key
from mmstack.ops.stack_file import PACKAGED_STACK, load_stack_file

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")


@pytest.mark.parametrize("env", ["development", "production"])
def test_promtool_accepts_the_config_and_rules(tmp_path: Path, env: str) -> None:
    token = tmp_path / "metrics-token"
    token.write_text("a token")
    written = write_monitoring(
        load_stack_file(PACKAGED_STACK),
        env,
        tmp_path,
        token_file=str(token),
        rules_dir=str(tmp_path),
    )
    config, rules = tmp_path / "prometheus.yml", tmp_path / "mmstack-rules.yml"
    assert config in written
    assert rules in written
    checked = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    ruled = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert ruled.returncode == 0, ruled.stdout + ruled.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in ruled.stdout
    jobs = {job["job_name"]: job for job in yaml.safe_load(config.read_text())["scrape_configs"]}
    assert set(jobs) == {"mmstack-api", "mmstack-worker"}
    assert jobs["mmstack-api"]["dns_sd_configs"][0] == {"names": ["api"], "type": "A", "port": 8000}
    assert jobs["mmstack-api"]["authorization"] == {"credentials_file": str(token)}


def test_the_rules_use_only_metrics_mmstack_serves(settings: Settings) -> None:
    live = settings.model_copy(update={"metrics": MetricsSettings(token="t")})
    with TestClient(create_app(live)) as client:
        served = client.get("/metrics", headers={"Authorization": "Bearer t"}).text
    names = set(re.findall(r"^# TYPE (mmstack_[a-z_]+) ", served, re.MULTILINE))
    names.add("mmstack_backup_last_success_timestamp_seconds")  # once a backup job succeeded
    for alert, expression, *_ in ALERTS:
        for metric in re.findall(r"\b(mmstack_[a-z_]+)", expression):
            base = re.sub(r"_(bucket|total)$", "", metric)
            assert base in names or metric in names, f"{alert} uses {metric}, not served"


def test_the_compose_deployment_mounts_the_configuration(tmp_path: Path) -> None:
    """`deploy compose` with the monitoring stack writes the files beside the compose file
    and mounts them into Prometheus, which reads the metrics token as a secret; read at
    their container paths, promtool accepts them."""
    stack = load_stack_file(PACKAGED_STACK)
    path = write_compose(stack, "production", tmp_path, ["core", "monitoring"])
    document = yaml.safe_load(path.read_text())
    prometheus = document["services"]["prometheus"]
    assert prometheus["configs"] == [
        {"source": "prometheus.yml", "target": "/etc/prometheus/prometheus.yml"},
        {"source": "mmstack-rules.yml", "target": "/etc/prometheus/mmstack-rules.yml"},
    ]
    grafana = {c["target"]: c["source"] for c in document["services"]["grafana"]["configs"]}
    assert grafana["/etc/grafana/provisioning/datasources/mmstack.yml"] == (
        "grafana-datasources.yml"
    )
    assert grafana["/etc/grafana/provisioning/dashboards/mmstack.yml"] == "grafana-dashboards.yml"
    dashboards = sorted(t for t in grafana if t.startswith("/etc/grafana/dashboards/mmstack/"))
    assert len(dashboards) == 5
    assert all(grafana[t] == t.rsplit("/", 1)[1] for t in dashboards)
    assert "metrics-token" in prometheus["secrets"]
    # The secrets' rotation rules `secrets render` writes: a secret file of its own.
    rotation = {"source": "secrets-rotation-rules", "target": "secrets-rotation.rules.yml"}
    assert rotation in prometheus["secrets"]
    assert document["secrets"]["secrets-rotation-rules"] == {
        "file": "./secrets/secrets-rotation.rules.yml"
    }
    assert "backend" in prometheus["networks"]  # where the workers are
    for service in ("api", "worker"):
        environment = document["services"][service]["environment"]
        assert environment["MMSTACK_METRICS__TOKEN_FILE"] == "/run/secrets/metrics-token"
    assert document["services"]["worker"]["environment"]["MMSTACK_METRICS__WORKER_PORT"] == "9100"
    files = {name: tmp_path / spec["file"] for name, spec in document["configs"].items()}
    assert all(file.is_file() for file in files.values())

    store = SecretsStore.open(tmp_path / "store.enc", load_key(tmp_path / "key", create=True))
    init_secrets(store, stack, "production")
    rendered = render(store, stack, "production", "compose", tmp_path)
    assert {p.name for p in rendered} >= {"metrics-token", "secrets-rotation.rules.yml"}
    provider = yaml.safe_load(files["grafana-dashboards.yml"].read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards/mmstack"
    sources = yaml.safe_load(files["grafana-datasources.yml"].read_text())["datasources"]
    assert [s["url"] for s in sources] == ["http://prometheus:9090", "http://loki:3100"]
    config = files["prometheus.yml"]
    config.write_text(
        config.read_text()
        .replace("/run/secrets", str(tmp_path / "secrets"))
        .replace("/etc/prometheus", str(config.parent))
    )
    checked = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Both rule files were found and checked: the generated ones and the rotation rules.
    assert "SUCCESS: 2 rule files found" in checked.stdout, checked.stdout
    assert f"SUCCESS: {len(stack.secrets)} rules found" in checked.stdout, checked.stdout
