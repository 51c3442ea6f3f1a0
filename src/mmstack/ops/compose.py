"""docker compose files from the stack file: one file per environment, a profile per stack,
health checks and `depends_on` conditions, secrets as compose secrets (files, never
environment values), non-root users, read-only root filesystems, no capabilities."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import yaml

from mmstack.ops.monitoring import (
    METRICS_TOKEN,
    MONITORING_DIR,
    RULES_FILE,
    mounts,
    reads_rotation_rules,
    write_monitoring,
)
from mmstack.ops.secrets_render import ROTATION_RULES
from mmstack.ops.stack_file import HealthCheck, Port, Service, StackFile

SECRETS_DIR: Final = "secrets"  # next to the compose file; `mmstack secrets render` fills it
ROTATION_SECRET: Final = "secrets-rotation-rules"  # noqa: S105 (the rendered rules)
UNITS: Final = {"Ki": "k", "Mi": "m", "Gi": "g"}


def compose_memory(quantity: str) -> str:
    """Kubernetes units (Ki, Mi, Gi) as compose writes them (k, m, g)."""
    for unit, short in UNITS.items():
        if quantity.endswith(unit):
            return quantity.removesuffix(unit) + short
    return quantity


def healthcheck_test(check: HealthCheck) -> list[str]:
    if check.command is not None:
        return ["CMD", *check.command]
    if check.http_path is not None:
        # Images differ in what they carry: busybox wget, curl, or only Python.
        url = f"http://127.0.0.1:{check.port}{check.http_path}"
        python = f"python3 -c \"import urllib.request; urllib.request.urlopen('{url}')\""
        probe = f"wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url} || {python}"
        return ["CMD-SHELL", f"{probe} || exit 1"]
    return ["CMD-SHELL", f"nc -z 127.0.0.1 {check.port} || exit 1"]


def _port(port: Port, replicas: int) -> dict[str, Any]:
    """A port; a replicated service publishes a range, one host port per replica."""
    entry: dict[str, Any] = {"target": port.target, "protocol": "tcp"}
    if port.published is not None:
        last = port.published + max(replicas, 1) - 1
        published = str(port.published) if last == port.published else f"{port.published}-{last}"
        entry |= {"published": published, "host_ip": port.host_ip}
    return entry


def compose_service(
    name: str, service: Service, stack: StackFile, chosen: set[str], source: str | None = None
) -> dict[str, Any]:
    """`source`: mmstack's source tree, where the services marked `build` are built from."""
    out: dict[str, Any] = {"image": service.image, "profiles": [service.stack]}
    if service.build and source is not None:
        out["build"] = {"context": source, "dockerfile": "Dockerfile"}
    if (wrapper := service.secret_value_wrapper()) is not None:
        out["entrypoint"] = wrapper
    if service.command is not None:
        out["command"] = list(service.command)
    environment = dict(service.environment)
    for use in service.secrets:
        if use.env is not None:
            environment[use.env] = f"/run/secrets/{use.secret}"
    if environment:
        out["environment"] = dict(sorted(environment.items()))
    secrets: list[Any] = sorted({use.secret for use in service.secrets})
    if reads_rotation_rules(service):
        secrets.append({"source": ROTATION_SECRET, "target": ROTATION_RULES})
    if secrets:
        out["secrets"] = secrets
    if service.user is not None:
        out["user"] = service.user
    out["read_only"] = service.read_only
    if service.tmpfs:
        out["tmpfs"] = list(service.tmpfs)
    out["security_opt"] = ["no-new-privileges:true"]
    out["cap_drop"] = ["ALL"]
    if service.capabilities_add:
        out["cap_add"] = list(service.capabilities_add)
    if service.privileged:
        out["privileged"] = True
    if service.ports:
        out["ports"] = [_port(p, service.replicas) for p in service.ports]
    depends = {
        other: {
            "condition": "service_healthy"
            if stack.services[other].healthcheck is not None
            else "service_started"
        }
        for other in service.depends_on
        if other in chosen
    }
    if depends:
        out["depends_on"] = depends
    if service.healthcheck is not None:
        check = service.healthcheck
        out["healthcheck"] = {
            "test": healthcheck_test(check),
            "interval": f"{check.interval_seconds}s",
            "timeout": f"{check.timeout_seconds}s",
            "retries": check.retries,
            "start_period": f"{check.start_period_seconds}s",
        }
    if files := mounts(service):
        out["configs"] = [{"source": f.name, "target": f.target} for f in files]
    if service.networks:
        out["networks"] = list(service.networks)
    if service.volumes:
        out["volumes"] = [
            {"type": "volume", "source": v.source, "target": v.target, "read_only": v.read_only}
            for v in service.volumes
        ]
    deploy: dict[str, Any] = {"replicas": service.replicas}
    limits: dict[str, Any] = {}
    if service.resources.cpus is not None:
        limits["cpus"] = str(service.resources.cpus)
    if service.resources.memory is not None:
        limits["memory"] = compose_memory(service.resources.memory)
    resources: dict[str, Any] = {"limits": limits} if limits else {}
    if service.gpus:
        resources["reservations"] = {
            "devices": [{"driver": "nvidia", "count": service.gpus, "capabilities": ["gpu"]}]
        }
    if resources:
        deploy["resources"] = resources
    out["deploy"] = deploy
    out["restart"] = "unless-stopped"
    return out


def render_compose(
    stack: StackFile, env: str, stacks: list[str] | None = None, source: str | None = None
) -> dict[str, Any]:
    """The compose document for `env` (its stacks, or `stacks`); the services marked
    `build` are built from `source` (a path as the compose file will see it) when given."""
    services = stack.resolved(env, stacks)
    chosen = set(services)
    used_networks = sorted({n for s in services.values() for n in s.networks})
    used_volumes = sorted({v.source for s in services.values() for v in s.volumes})
    used_secrets = sorted({u.secret for s in services.values() for u in s.secrets})
    document: dict[str, Any] = {
        "name": f"{stack.project}-{env}",
        "services": {
            name: compose_service(name, service, stack, chosen, source)
            for name, service in services.items()
        },
    }
    if used_networks:
        document["networks"] = {
            name: {
                "driver": "bridge",
                "internal": stack.networks[name].internal,
                "ipam": {"config": [{"subnet": stack.networks[name].subnet}]},
            }
            for name in used_networks
        }
    if used_volumes:
        document["volumes"] = {name: {} for name in used_volumes}
    if used_secrets:
        document["secrets"] = {name: {"file": f"./{SECRETS_DIR}/{name}"} for name in used_secrets}
    if any(reads_rotation_rules(s) for s in services.values()):
        rules = {"file": f"./{SECRETS_DIR}/{ROTATION_RULES}"}
        document["secrets"] = document.get("secrets", {}) | {ROTATION_SECRET: rules}
    if files := {f.name for s in services.values() for f in mounts(s)}:
        document["configs"] = {
            name: {"file": f"./{MONITORING_DIR}/{name}"} for name in sorted(files)
        }
    return document


def _generated(services: dict[str, Service]) -> dict[str, str]:
    """The generated files the services mount: kind -> its path in the container."""
    return {f.kind: f.target for s in services.values() for f in s.generated}


def write_compose(
    stack: StackFile,
    env: str,
    out_dir: Path,
    stacks: list[str] | None = None,
    source: Path | None = None,
) -> Path:
    """Write `compose.<env>.yaml` into `out_dir`; returns its path. With `source`
    (mmstack's source tree), the services marked `build` are built from it."""
    context = None
    if source is not None:
        context = os.path.relpath(source.resolve(), out_dir.resolve())
    document = render_compose(stack, env, stacks, context)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"compose.{env}.yaml"
    header = (
        f"# Generated by `mmstack deploy compose --env {env}` from the stack file: edit that,\n"
        f"# not this. Secrets are files in ./{SECRETS_DIR}/ (`mmstack secrets render "
        f"--env {env} --format compose`).\n"
    )
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False))
    if generated := _generated(stack.resolved(env, stacks)):
        rules = generated.get("prometheus-rules", f"/etc/prometheus/{RULES_FILE}")
        write_monitoring(
            stack,
            env,
            out_dir / MONITORING_DIR,
            token_file=f"/run/secrets/{METRICS_TOKEN}",
            rules_dir=str(Path(rules).parent),
        )
    return path
