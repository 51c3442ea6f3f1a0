"""`mmstack doctor`: is this host ready for the deployment, and is the deployment safe?
Checks are pure functions of what they are given (the stack file, the compose document, the
host's facts); `run_doctor` combines them for one environment."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmstack.config.settings import Settings, load_settings
from mmstack.errors import MMStackError
from mmstack.ops.backup.configured import backup_check
from mmstack.ops.compose import render_compose
from mmstack.ops.findings import Finding, ordered
from mmstack.ops.host_facts import Gpu, HostFacts
from mmstack.ops.network_checks import port_conflicts, subnet_conflicts
from mmstack.ops.security_audit import security_audit
from mmstack.ops.stack_file import StackFile, StackFileError, load_stack_file

__all__ = ["Finding", "config_check", "gpu_check", "run_doctor"]


def gpu_check(
    env_requires_gpu: bool, gpus: Sequence[Gpu], reserved: int = 0, detail: str = ""
) -> list[Finding]:
    """`gpus` as nvidia-smi lists them; `reserved`: GPUs the deployment asks for."""
    names = ", ".join(
        g.name + (f" ({g.memory_mib} MiB)" if g.memory_mib is not None else "") for g in gpus
    )
    why = f" ({detail})" if detail else ""
    if not env_requires_gpu:
        if not gpus:
            return [
                Finding(
                    "gpu",
                    "info",
                    f"no NVIDIA GPU found{why}: models run on the CPU",
                    "nothing to do; for GPU inference install the NVIDIA driver and Container "
                    "Toolkit and use --env gpu",
                )
            ]
        return [
            Finding(
                "gpu",
                "info",
                f"{len(gpus)} GPU(s): {names}; this environment does not use them",
                "use --env gpu to serve models on them",
            )
        ]
    if not gpus:
        return [
            Finding(
                "gpu",
                "high",
                f"this environment needs a GPU and none is found{why}",
                "install the NVIDIA driver and the NVIDIA Container Toolkit (nvidia-smi must list "
                "the GPU), or deploy an environment without requires_gpu (e.g. production)",
                "environments",
            )
        ]
    if reserved > len(gpus):
        return [
            Finding(
                "gpu",
                "high",
                f"the services reserve {reserved} GPU(s), the host has {len(gpus)}: {names}",
                "lower the services' gpus in the environment, or add GPUs",
                "environments",
            )
        ]
    return [Finding("gpu", "info", f"{len(gpus)} GPU(s): {names}")]


def config_check(
    stack_path: Path, env: str, settings_file: Path | None = None
) -> tuple[StackFile | None, list[Finding]]:
    """The stack file loads and has `env`; mmstack's own settings load. Returns the stack
    file (None when it does not load)."""
    findings = []
    stack: StackFile | None
    try:
        stack = load_stack_file(stack_path)
    except StackFileError as exc:
        stack = None
        findings += [
            Finding(
                "config",
                "critical",
                f"{stack_path}: {error}",
                f"correct the stack file (`mmstack stack validate -f {stack_path}` lists every "
                "error)",
                error.split(":", 1)[0],
            )
            for error in exc.errors
        ]
    if stack is not None and env not in stack.environments:
        findings.append(
            Finding(
                "config",
                "critical",
                f"{stack_path}: no environment '{env}'",
                f"use one of {', '.join(stack.environments)}, or add it under environments",
                "environments",
            )
        )
    try:
        settings = load_settings(settings_file)
    except (FileNotFoundError, ValueError, MMStackError) as exc:
        findings.append(
            Finding(
                "config",
                "high",
                f"mmstack's settings do not load: {exc}",
                "correct the settings file or the MMSTACK_* variables (docs/CONFIGURATION.md)",
                str(settings_file or "settings"),
            )
        )
    else:
        findings += blob_store_check(settings)
        findings += backup_check(settings, time.time())
    return stack, findings


def blob_store_check(settings: Settings) -> list[Finding]:
    """With blobs in an object store, the bucket answers to the configured credentials."""
    if settings.blobs.backend != "s3":
        return []
    from mmstack.store.blobs_s3 import S3BlobStore

    where = f"{settings.blobs.endpoint_url or 'AWS S3'}, bucket {settings.blobs.bucket!r}"
    try:
        store = S3BlobStore.from_settings(settings.blobs, settings.data_dir / "blob-cache")
        store.check()
    except MMStackError as exc:
        return [
            Finding(
                "blobs",
                "critical",
                f"the object store does not answer: {exc.message}",
                "create the bucket, or correct blobs.endpoint_url, blobs.bucket and the "
                "credentials (MMSTACK_BLOBS__*; docs/CONFIGURATION.md)",
                "blobs",
            )
        ]
    return [Finding("blobs", "info", f"object store reachable: {where}")]


def _subnets(compose_doc: Mapping[str, Any]) -> dict[str, str]:
    networks: Mapping[str, Any] = compose_doc.get("networks") or {}
    return {
        name: str(block["subnet"])
        for name, network in networks.items()
        for block in ((network or {}).get("ipam") or {}).get("config") or []
        if "subnet" in block
    }


def _gpus_reserved(compose_doc: Mapping[str, Any]) -> int:
    total = 0
    for service in (compose_doc.get("services") or {}).values():
        reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations")
        for device in (reservations or {}).get("devices") or []:
            total += int(device.get("count", 0)) * int(service["deploy"].get("replicas", 1))
    return total


def run_doctor(stack: StackFile, env: str, facts: HostFacts) -> list[Finding]:
    """Every check of `env`'s deployment on the host `facts` describe, most severe first."""
    document = render_compose(stack, env)
    findings = subnet_conflicts(
        _subnets(document), facts.routes, facts.docker_networks or [], own_project=document["name"]
    )
    if facts.docker_networks is None:
        findings.append(
            Finding(
                "docker",
                "info",
                f"Docker networks not checked: {facts.docker_problem or 'no Docker engine'}",
                "start Docker (systemctl start docker) and run doctor again before deploying",
            )
        )
    findings += port_conflicts(document, facts.ports_in_use)
    findings += gpu_check(
        stack.environment(env).requires_gpu, facts.gpus, _gpus_reserved(document), facts.gpu_problem
    )
    findings += security_audit(document)
    return ordered(findings)
