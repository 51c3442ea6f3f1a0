"""The generated Grafana dashboards, type-checked by TypeScript against the dashboard and
panel types Grafana publishes (@grafana/schema, the version of the deployed Grafana image),
and the provisioning files Grafana reads."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mmstack.ops.grafana import (
    DASHBOARDS,
    LOKI_UID,
    PROMETHEUS_UID,
    dashboard_provider,
    dashboards,
    datasources,
    grafana_files,
)
from mmstack.ops.stack_file import PACKAGED_STACK, load_stack_file

SCHEMA_PACKAGE = Path(__file__).parent / "grafana_schema"
TYPES = "@grafana/schema/dist/types/raw"
PANEL_OPTIONS = {
    "stat": f"{TYPES}/composable/stat/panelcfg/x/StatPanelCfg_types.gen",
    "timeseries": f"{TYPES}/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen",
}


def _type_check(
    documents: dict[str, dict[str, Any]], workdir: Path
) -> subprocess.CompletedProcess[str]:
    """tsc on a module that declares each dashboard (and each panel's options) as the
    type Grafana gives it; enums are compared by their string values, as JSON has them."""
    lines = [f'import type {{ Dashboard }} from "{TYPES}/dashboard/x/dashboard_types.gen";']
    for kind, module in PANEL_OPTIONS.items():
        lines.append(f'import type {{ Options as {kind}Options }} from "{module}";')
    lines.append(
        "type Json<T> = T extends string ? `${T}` : T extends Array<infer U> ? Array<Json<U>>"
        " : T extends object ? { [K in keyof T]: Json<T[K]> } : T;"
    )
    for index, document in enumerate(documents.values()):
        lines.append(f"export const d{index} = {json.dumps(document)} satisfies Json<Dashboard>;")
        for number, panel in enumerate(document["panels"]):
            lines.append(
                f"export const d{index}p{number} = {json.dumps(panel['options'])}"
                f" satisfies Json<{panel['type']}Options>;"
            )
    (workdir / "dashboards.ts").write_text("\n".join(lines) + "\n")
    (workdir / "node_modules").symlink_to(SCHEMA_PACKAGE / "node_modules")
    return subprocess.run(
        [
            str(SCHEMA_PACKAGE / "node_modules" / ".bin" / "tsc"),
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "commonjs",
            "--moduleResolution",
            "node10",
            "--skipLibCheck",
            "dashboards.ts",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_image_and_the_schema_are_the_same_grafana() -> None:
    lock = json.loads((SCHEMA_PACKAGE / "package-lock.json").read_text())
    schema_version = lock["packages"]["node_modules/@grafana/schema"]["version"]
    image = load_stack_file(PACKAGED_STACK).services["grafana"].image
    assert image == f"grafana/grafana:{schema_version}"


def test_the_dashboards_are_what_grafana_reads(tmp_path: Path) -> None:
    checked = _type_check(dashboards(), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_check_refuses_what_grafana_would_not_read(tmp_path: Path) -> None:
    broken = copy.deepcopy(dashboards())
    first = next(iter(broken.values()))
    first["refreshEvery"] = "30s"  # not a dashboard field
    first["panels"][0]["options"]["graphMode"] = "sparkline"  # not a graph mode
    checked = _type_check(broken, tmp_path)
    assert checked.returncode != 0
    assert "refreshEvery" in checked.stdout
    assert '"sparkline"' in checked.stdout


def test_every_dashboard_queries_mmstack_metrics_through_the_provisioned_source() -> None:
    documents = dashboards()
    assert [d["uid"] for d in documents.values()] == [uid for uid, *_ in DASHBOARDS]
    assert {d["title"] for d in documents.values()} == {
        "mmstack: overview",
        "mmstack: LLM",
        "mmstack: ingestion",
        "mmstack: search",
        "mmstack: auth",
    }
    for document in documents.values():
        ids = [p["id"] for p in document["panels"]]
        assert len(set(ids)) == len(ids)
        for panel in document["panels"]:
            place = panel["gridPos"]
            assert place["x"] + place["w"] <= 24
            assert panel["targets"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == PROMETHEUS_UID
                assert re.search(r"\bmmstack_|\bup\{", target["expr"])


def test_the_queries_name_only_series_mmstack_serves() -> None:
    """Every mmstack_ series a dashboard asks for exists in the metrics registry (a
    renamed metric must not leave an empty panel)."""
    from prometheus_client import generate_latest

    from mmstack import metrics

    served = generate_latest(metrics.registry()).decode()
    state = {  # the scrape-time state series (api/routes/prometheus.py)
        "mmstack_jobs",
        "mmstack_jobs_oldest_waiting_seconds",
        "mmstack_chunks",
        "mmstack_vector_points",
        "mmstack_data_disk_free_bytes",
        "mmstack_data_disk_size_bytes",
        "mmstack_backup_last_success_timestamp_seconds",
        "mmstack_db_connections_in_use",
    }
    asked = {
        name
        for document in dashboards().values()
        for panel in document["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(mmstack_[a-z_]+)", target["expr"])
    }
    for name in asked:
        family = re.sub(r"_(bucket|count|sum)$", "", name)
        assert name in state or f"# TYPE {family} " in served, name


def test_provisioning_names_the_sources_the_dashboards_use(tmp_path: Path) -> None:
    sources = datasources("http://prometheus:9090", "http://loki:3100")["datasources"]
    assert [(s["uid"], s["type"], s["url"]) for s in sources] == [
        (PROMETHEUS_UID, "prometheus", "http://prometheus:9090"),
        (LOKI_UID, "loki", "http://loki:3100"),
    ]
    assert [s["uid"] for s in datasources("http://p:9090", None)["datasources"]] == [PROMETHEUS_UID]
    provider = dashboard_provider("/etc/grafana/provisioning/dashboards")["providers"][0]
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards"
    files = grafana_files("http://prometheus:9090", None, "/dashboards")
    assert yaml.safe_load(files["grafana-dashboards.yml"])["providers"][0]["options"]["path"] == (
        "/dashboards"
    )
    assert sorted(n for n in files if n.endswith(".json")) == sorted(dashboards())


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_the_json_written_is_the_dashboard(name: str) -> None:
    files = grafana_files("http://prometheus:9090", None, "/dashboards")
    assert json.loads(files[name]) == dashboards()[name]
