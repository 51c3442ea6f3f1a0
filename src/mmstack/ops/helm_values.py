"""The Helm chart's values, derived from the stack file: one entry per service, its
environment's overrides applied, and the difference between two environments' values
(what a `values-<env>.yaml` holds)."""

from __future__ import annotations

import math
from typing import Any

from mmstack.ops.monitoring import metrics_port, mounts, reads_rotation_rules
from mmstack.ops.stack_file import STACKS, HealthCheck, Resources, Service, StackFile

SECRETS_DIR = "/run/secrets"


def chart_values(stack: StackFile, env: str) -> dict[str, Any]:
    """Every service of the stack file as deployed in `env`: overrides applied, `enabled`
    when one of the environment's stacks (or a dependency of one) holds it."""
    everything = stack.resolved(env, list(STACKS))
    enabled = set(stack.resolved(env))
    shared = _shared_volumes(stack)
    return {
        "project": stack.project,
        "storageClass": "",
        "autoscaling": {"targetCPUUtilizationPercentage": 70},
        "networkPolicy": {"enabled": True},
        "volumes": {
            name: {
                "size": volume.size,
                "accessMode": "ReadWriteMany" if name in shared else "ReadWriteOnce",
            }
            for name, volume in sorted(stack.volumes.items())
        },
        "services": {
            name: service_values(service, name in enabled, shared)
            for name, service in sorted(everything.items())
        },
    }


def service_values(service: Service, enabled: bool, shared: set[str]) -> dict[str, Any]:
    ports = {p.target: p.published is not None for p in service.ports}
    if service.healthcheck and service.healthcheck.port and service.healthcheck.port not in ports:
        ports[service.healthcheck.port] = False  # a port the stack reaches it on
    values: dict[str, Any] = {
        "enabled": enabled,
        "stack": service.stack,
        "image": service.image,
        "command": service.secret_value_wrapper() or [],
        "args": service.command or [],
        "ports": [{"port": port, "published": published} for port, published in ports.items()],
        "env": [{"name": k, "value": v} for k, v in sorted(service.environment.items())]
        + [
            {"name": use.env, "value": f"{SECRETS_DIR}/{use.secret}"}
            for use in service.secrets
            if use.env is not None
        ],
        "secrets": sorted({use.secret for use in service.secrets}),
        "probe": _probe(service.healthcheck),
        "resources": _resources(service.resources),
        "replicas": service.replicas,
        "autoscaleMax": service.autoscale_max or 0,
        "gpus": service.gpus,
        "podSecurityContext": _pod_security(service),
        "securityContext": _container_security(service),
        "tmpfs": service.tmpfs,
        "volumes": [
            {"name": m.source, "mountPath": m.target, "readOnly": m.read_only}
            for m in service.volumes
        ],
        # Two pods of one Deployment never hold a ReadWriteOnce claim at once.
        "strategy": "Recreate"
        if any(m.source not in shared for m in service.volumes)
        else "RollingUpdate",
        "networks": sorted(service.networks),
        "migrate": service.migrate or [],
        "generated": [{"key": m.name, "mountPath": m.target} for m in mounts(service)],
        "metricsPort": metrics_port(service) or 0,
        "rotationRules": reads_rotation_rules(service),
    }
    return values


def _shared_volumes(stack: StackFile) -> set[str]:
    """Volumes mounted by several services or by a service that may run several pods in
    some environment: these need ReadWriteMany."""
    users: dict[str, set[str]] = {}
    many: set[str] = set()
    for env in stack.environments:
        for name, service in stack.resolved(env, list(STACKS)).items():
            scaled = service.replicas > 1 or service.autoscale_max is not None
            for mount in service.volumes:
                users.setdefault(mount.source, set()).add(name)
                if scaled:
                    many.add(mount.source)
    return many | {volume for volume, names in users.items() if len(names) > 1}


def cpu_quantity(cores: float) -> str:
    millis = round(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _resources(resources: Resources) -> dict[str, dict[str, str]]:
    limits: dict[str, str] = {}
    if resources.cpus is not None:
        limits["cpu"] = cpu_quantity(resources.cpus)
    if resources.memory is not None:
        limits["memory"] = resources.memory
    # Requests are written out even where they equal the limits (Kubernetes' default), so an
    # environment's resources replace all four quantities instead of merging with the base.
    requests = dict(limits)
    if resources.cpus_request is not None:
        requests["cpu"] = cpu_quantity(resources.cpus_request)
    if resources.memory_request is not None:
        requests["memory"] = resources.memory_request
    return {"limits": limits, "requests": requests}


def _probe(check: HealthCheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    handler: dict[str, Any]
    if check.command is not None:
        handler = {"exec": {"command": check.command}}
    elif check.http_path is not None:
        handler = {"httpGet": {"path": check.http_path, "port": check.port}}
    else:
        handler = {"tcpSocket": {"port": check.port}}
    probe: dict[str, Any] = {"handler": handler}
    if check.live_path is not None:
        # Alive is not ready: a dependency's outage takes the pod out of the Service, and
        # only a process that stopped answering is restarted.
        probe["livenessHandler"] = {"httpGet": {"path": check.live_path, "port": check.port}}
    return probe | {
        "periodSeconds": check.interval_seconds,
        "timeoutSeconds": check.timeout_seconds,
        "failureThreshold": check.retries,
        # The start period becomes a startup probe given that long before it fails.
        "startupFailureThreshold": math.ceil(check.start_period_seconds / check.interval_seconds)
        + check.retries,
    }


def _ids(service: Service) -> tuple[int | None, int | None]:
    if service.user is None:
        return None, None
    uid, _, gid = service.user.partition(":")
    return int(uid), int(gid) if gid else None


def _pod_security(service: Service) -> dict[str, Any]:
    _, gid = _ids(service)
    context: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if gid is not None:
        context["fsGroup"] = gid
    return context


def _container_security(service: Service) -> dict[str, Any]:
    uid, gid = _ids(service)
    context: dict[str, Any] = {
        "runAsNonRoot": uid != 0,
        "readOnlyRootFilesystem": service.read_only,
        # Kubernetes refuses a privileged container that may not escalate.
        "allowPrivilegeEscalation": service.privileged,
        "privileged": service.privileged,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if service.capabilities_add:
        context["capabilities"]["add"] = service.capabilities_add
    if uid is not None:
        context["runAsUser"] = uid
    if gid is not None:
        context["runAsGroup"] = gid
    return context


def values_diff(base: Any, target: Any) -> Any:
    """What to layer over `base` (as Helm merges values files) to get `target`: changed
    leaves and lists whole, removed keys as None (Helm deletes a key set to null)."""
    if isinstance(base, dict) and isinstance(target, dict):
        changes: dict[str, Any] = {}
        for key, value in target.items():
            if key not in base:
                changes[key] = value
            elif value != base[key]:
                changes[key] = values_diff(base[key], value)
        for key in base:
            if key not in target:
                changes[key] = None
        return changes
    return target
