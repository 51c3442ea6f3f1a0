"""What `mmstack doctor` needs to know about the host: its routes, the Docker networks, the
TCP ports in use and the GPUs. Parsers are pure (tests feed them text); gatherers run the
real commands and read /proc, and never fail: what cannot be known is left empty and said."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import shutil
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

TIMEOUT_SECONDS: Final = 15
LISTEN: Final = "0A"  # TCP_LISTEN in /proc/net/tcp
NVIDIA_QUERY: Final = ("--query-gpu=name,memory.total", "--format=csv,noheader")


@dataclass(frozen=True)
class Route:
    destination: IPNetwork
    device: str = ""


@dataclass(frozen=True)
class DockerNetwork:
    name: str
    subnets: tuple[IPNetwork, ...]
    compose_project: str | None = None


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int | None = None


@dataclass(frozen=True)
class HostFacts:
    routes: list[Route] = field(default_factory=list)
    docker_networks: list[DockerNetwork] | None = None  # None: no Docker engine answered
    docker_problem: str = ""
    ports_in_use: frozenset[int] = frozenset()
    gpus: list[Gpu] = field(default_factory=list)
    gpu_problem: str = ""


def _hex_ipv4(value: str) -> ipaddress.IPv4Address:
    # /proc/net/* write IPv4 addresses as host-order (little-endian) hex.
    return ipaddress.IPv4Address(bytes.fromhex(value)[::-1])


def parse_proc_route(text: str) -> list[Route]:
    routes = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        try:
            destination, mask = _hex_ipv4(parts[1]), _hex_ipv4(parts[7])
            network = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
        except ValueError:
            continue
        routes.append(Route(network, parts[0]))
    return routes


def parse_ip_route_json(text: str) -> list[Route]:
    """`ip -j route` output; `default` is 0.0.0.0/0, a bare address a /32 (or /128)."""
    routes = []
    for entry in json.loads(text or "[]"):
        dst = str(entry.get("dst", ""))
        if dst == "default":
            dst = "::/0" if ":" in str(entry.get("gateway", "")) else "0.0.0.0/0"
        try:
            routes.append(Route(ipaddress.ip_network(dst, strict=False), str(entry.get("dev", ""))))
        except ValueError:
            continue
    return routes


def parse_proc_net_tcp(text: str) -> set[int]:
    """The local ports in LISTEN state in /proc/net/tcp or /proc/net/tcp6."""
    ports = set()
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) > 3 and parts[3] == LISTEN and ":" in parts[1]:
            ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Lines of `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader`:
    `NVIDIA A100-SXM4-40GB, 40960 MiB`."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, memory = line.rpartition(",")
        if not name:
            name, memory = memory, ""
        amount = memory.strip().removesuffix("MiB").strip()
        gpus.append(Gpu(name.strip(), int(amount) if amount.isdigit() else None))
    return gpus


def parse_docker_inspect(text: str) -> list[DockerNetwork]:
    networks = []
    for entry in json.loads(text or "[]"):
        config: list[dict[str, Any]] = (entry.get("IPAM") or {}).get("Config") or []
        subnets = []
        for block in config:
            try:
                subnets.append(ipaddress.ip_network(str(block.get("Subnet", "")), strict=False))
            except ValueError:
                continue
        labels: dict[str, str] = entry.get("Labels") or {}
        networks.append(
            DockerNetwork(
                str(entry.get("Name", "")),
                tuple(subnets),
                labels.get("com.docker.compose.project"),
            )
        )
    return networks


def _run(*command: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def host_routes() -> list[Route]:
    ip = shutil.which("ip")
    if ip is not None:
        routes: list[Route] = []
        for family in ("-4", "-6"):
            done = _run(ip, "-j", family, "route", "show", "table", "all")
            if done is not None and done.returncode == 0:
                with contextlib.suppress(json.JSONDecodeError):
                    routes.extend(parse_ip_route_json(done.stdout))
        if routes:
            return routes
    try:
        return parse_proc_route(Path("/proc/net/route").read_text())
    except OSError:
        return []


def docker_networks() -> tuple[list[DockerNetwork] | None, str]:
    """The Docker networks, or None and why they cannot be listed."""
    docker = shutil.which("docker")
    if docker is None:
        return None, "docker is not installed"
    listed = _run(docker, "network", "ls", "--quiet")
    if listed is None or listed.returncode != 0:
        reason = listed.stderr.strip() if listed is not None else "docker did not answer"
        return None, f"no Docker engine answers ({reason.splitlines()[-1] if reason else '?'})"
    ids = listed.stdout.split()
    if not ids:
        return [], ""
    inspected = _run(docker, "network", "inspect", *ids)
    if inspected is None or inspected.returncode != 0:
        return None, "docker network inspect failed"
    return parse_docker_inspect(inspected.stdout), ""


def bound_ports(candidates: Iterable[int]) -> set[int]:
    """Of `candidates`, the ports this process cannot bind on any address because something
    holds them (where /proc/net/tcp is not there to read)."""
    taken = set()
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("0.0.0.0", port))  # noqa: S104 - probing, never listening
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    taken.add(port)
    return taken


def ports_in_use(candidates: Iterable[int] = ()) -> frozenset[int]:
    ports: set[int] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            ports |= parse_proc_net_tcp(Path(table).read_text())
            readable = True
        except OSError:
            continue
    return frozenset(ports if readable else bound_ports(candidates))


def gpus() -> tuple[list[Gpu], str]:
    """NVIDIA GPUs per nvidia-smi, or none and why."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return [], "nvidia-smi is not installed"
    done = _run(smi, *NVIDIA_QUERY)
    if done is None or done.returncode != 0:
        detail = (done.stderr or done.stdout).strip() if done is not None else "no answer"
        return [], f"nvidia-smi failed: {detail.splitlines()[0] if detail else '?'}"
    return parse_nvidia_smi(done.stdout), ""


def gather_host_facts(candidate_ports: Iterable[int] = ()) -> HostFacts:
    networks, docker_problem = docker_networks()
    found, gpu_problem = gpus()
    return HostFacts(
        routes=host_routes(),
        docker_networks=networks,
        docker_problem=docker_problem,
        ports_in_use=ports_in_use(candidate_ports),
        gpus=found,
        gpu_problem=gpu_problem,
    )
