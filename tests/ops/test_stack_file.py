"""The stack file: the packaged default is valid, every error is reported with its path,
environments override services and choose stacks, and the published schema is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mmstack.cli.main import app
from mmstack.ops.stack_file import (
    PACKAGED_STACK,
    STACKS,
    StackFileError,
    json_schema,
    load_stack_file,
)

SCHEMA_DOC = Path(__file__).parents[2] / "docs" / "stack.schema.json"


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _default() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(PACKAGED_STACK.read_text())
    assert isinstance(data, dict)
    return data


def test_the_packaged_stack_names_every_stack_and_environment() -> None:
    stack = load_stack_file(PACKAGED_STACK)
    assert {s.stack for s in stack.services.values()} == set(STACKS)
    assert set(stack.environments) == {"development", "staging", "production", "gpu"}
    wanted = {"api", "worker", "postgres", "redis", "qdrant", "minio", "vllm", "litellm"}
    assert wanted | {"open-webui", "n8n", "prometheus", "grafana", "loki", "load-test"} == set(
        stack.services
    )


def test_environments_override_services_and_pull_in_dependencies() -> None:
    stack = load_stack_file(PACKAGED_STACK)
    development = stack.resolved("development")
    assert set(development) == {"api", "worker", "postgres", "redis", "qdrant", "minio"}
    assert development["api"].resources.memory == "2Gi"
    production = stack.resolved("production")
    assert production["api"].replicas == 3
    assert production["vllm"].gpus == 0  # GPUs are reserved only where an environment asks
    assert stack.resolved("gpu")["vllm"].gpus == 1
    ui_only = stack.resolved("development", ["ui"])
    assert {"open-webui", "api", "postgres"} <= set(ui_only)


def test_every_error_is_reported_with_its_path(tmp_path: Path) -> None:
    data = _default()
    data["networks"]["edge"]["subnet"] = "8.8.8.0/24"
    data["services"]["api"]["ports"][0]["target"] = 70000
    data["services"]["redis"]["resources"]["memory"] = "lots"
    data["services"]["qdrant"]["colour"] = "blue"
    with pytest.raises(StackFileError) as caught:
        load_stack_file(_write(tmp_path, data))
    errors = caught.value.errors
    assert any(e.startswith("networks.edge:") and "not a private range" in e for e in errors)
    assert any(e.startswith("services.api.ports[0].target:") for e in errors)
    assert any(e.startswith("services.redis.resources:") and "lots" in e for e in errors)
    assert any(e.startswith("services.qdrant.colour:") for e in errors)
    assert len(errors) == 4


def test_references_and_overlapping_networks_are_errors(tmp_path: Path) -> None:
    data = _default()
    data["services"]["api"]["depends_on"].append("nope")
    data["services"]["worker"]["networks"].append("nowhere")
    data["services"]["api"]["secrets"].append({"secret": "missing", "env": "X_FILE"})
    data["networks"]["observability"]["subnet"] = "172.30.10.128/25"
    with pytest.raises(StackFileError) as caught:
        load_stack_file(_write(tmp_path, data))
    text = "\n".join(caught.value.errors)
    assert "services.api.depends_on: no service 'nope'" in text
    assert "services.worker.networks: no network 'nowhere'" in text
    assert "services.api.secrets: no secret 'missing'" in text
    assert "networks.observability: subnet 172.30.10.128/25 overlaps network edge" in text


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(StackFileError, match="cannot read"):
        load_stack_file(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("services: [unclosed")
    with pytest.raises(StackFileError, match="not valid YAML"):
        load_stack_file(broken)


def test_the_published_schema_is_current_and_validates_the_default() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    assert json.loads(SCHEMA_DOC.read_text()) == schema, (
        "run: mmstack stack schema --out docs/stack.schema.json"
    )
    jsonschema.validate(_default(), schema)
    bad = _default()
    bad["services"]["api"]["replicas"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_cli_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["stack", "validate", "--file", str(PACKAGED_STACK), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["valid"] is True
    data = _default()
    data["services"]["api"]["replicas"] = -1
    bad = runner.invoke(app, ["stack", "validate", "--file", str(_write(tmp_path, data))])
    assert bad.exit_code == 1
    assert "services.api.replicas" in bad.output
    assert "Traceback" not in bad.output


def test_field_errors_and_reference_errors_are_reported_together(tmp_path: Path) -> None:
    data = _default()
    data["services"]["api"]["replicas"] = "many"
    data["services"]["worker"]["depends_on"].append("ghost")
    with pytest.raises(StackFileError) as caught:
        load_stack_file(_write(tmp_path, data))
    assert caught.value.errors == [
        "services.api.replicas: Input should be a valid integer, unable to parse string as an "
        "integer",
        "services.worker.depends_on: no service 'ghost'",
    ]
