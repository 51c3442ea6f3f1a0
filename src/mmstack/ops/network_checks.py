"""Subnet and port conflicts between a generated deployment and the host it goes on."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mmstack.ops.findings import Finding
from mmstack.ops.host_facts import DockerNetwork, IPNetwork, Route

SUGGESTION_POOL: Final = ipaddress.IPv4Network("172.16.0.0/12")
# Docker adds a route for each of its bridges; those are checked as Docker networks, by name.
DOCKER_DEVICES: Final = ("docker0", "br-")
ANY_ADDRESS: Final = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - addresses compared, not bound


def _network(value: str | IPNetwork) -> IPNetwork:
    return value if not isinstance(value, str) else ipaddress.ip_network(value, strict=False)


def free_subnet(prefix: int, taken: Iterable[IPNetwork]) -> ipaddress.IPv4Network | None:
    """The first /`prefix` of 172.16.0.0/12 that overlaps nothing in `taken`."""
    taken = [t for t in taken if t.version == 4]
    for candidate in SUGGESTION_POOL.subnets(new_prefix=max(prefix, SUGGESTION_POOL.prefixlen)):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    return None


def subnet_conflicts(
    stack_networks: Mapping[str, str | IPNetwork],
    host_routes: Sequence[Route],
    docker_networks: Sequence[DockerNetwork],
    *,
    own_project: str | None = None,
) -> list[Finding]:
    """Stack networks overlapping a private route of the host or a Docker network's subnet.
    Public routes (the default route, a VPN's 0.0.0.0/1) overlap everything and say nothing;
    the Docker networks of `own_project` (this deployment, already up) are not conflicts."""
    ours = {name: _network(subnet) for name, subnet in stack_networks.items()}
    routes = [
        r
        for r in host_routes
        if r.destination.is_private
        and not r.destination.is_multicast
        and not r.device.startswith(DOCKER_DEVICES)
    ]
    others = [n for n in docker_networks if own_project is None or n.compose_project != own_project]
    taken: list[IPNetwork] = [
        *ours.values(),
        *(r.destination for r in routes),
        *(s for n in others for s in n.subnets),
    ]
    findings = []
    for name, subnet in ours.items():
        clashes = [
            f"the host route {r.destination}" + (f" (dev {r.device})" if r.device else "")
            for r in routes
            if r.destination.version == subnet.version and r.destination.overlaps(subnet)
        ]
        clashes += [
            f"the Docker network {n.name} ({s})"
            for n in others
            for s in n.subnets
            if s.version == subnet.version and s.overlaps(subnet)
        ]
        if not clashes:
            continue
        suggestion = free_subnet(subnet.prefixlen, taken) if subnet.version == 4 else None
        if suggestion is not None:
            taken.append(suggestion)
            fix = f"set networks.{name}.subnet to a free range, e.g. {suggestion}"
        else:
            fix = f"set networks.{name}.subnet to a private range nothing on the host uses"
        findings.append(
            Finding(
                "subnet",
                "high",
                f"network {name} ({subnet}) overlaps {', '.join(clashes)}: containers on it "
                "cannot reach those addresses, and Docker refuses overlapping pools",
                fix,
                f"networks.{name}",
            )
        )
    return findings


@dataclass(frozen=True)
class Published:
    service: str
    index: int
    host_ip: str
    port: int
    protocol: str

    @property
    def where(self) -> str:
        return f"services.{self.service}.ports[{self.index}]"


def _short_port(entry: str) -> tuple[str, int | None, str]:
    """`[host_ip:]published:target[/protocol]` → (host_ip, published, protocol)."""
    spec, _, protocol = entry.partition("/")
    parts = spec.rsplit(":", 2)
    if len(parts) == 1:
        return "", None, protocol or "tcp"
    host_ip = parts[0].strip("[]") if len(parts) == 3 else ""
    published = parts[-2]
    return host_ip, int(published) if published.isdigit() else None, protocol or "tcp"


def published_ports(compose_doc: Mapping[str, Any]) -> list[Published]:
    """Every host port a running service publishes (services scaled to 0 publish none)."""
    found = []
    services: Mapping[str, Any] = compose_doc.get("services") or {}
    for name, service in services.items():
        if (service.get("deploy") or {}).get("replicas", 1) == 0:
            continue
        for index, entry in enumerate(service.get("ports") or []):
            if isinstance(entry, Mapping):
                published = entry.get("published")
                host_ip = str(entry.get("host_ip", ""))
                protocol = str(entry.get("protocol", "tcp"))
                port = (
                    int(published) if published is not None and str(published).isdigit() else None
                )
            else:
                host_ip, port, protocol = _short_port(str(entry))
            if port is not None:
                found.append(Published(name, index, host_ip, port, protocol))
    return found


def _free_port(start: int, taken: Collection[int]) -> int:
    port = start + 1
    while port in taken and port < 65535:
        port += 1
    return port


def port_conflicts(compose_doc: Mapping[str, Any], ports_in_use: Collection[int]) -> list[Finding]:
    """Two services on the same host port, a replicated service on a fixed host port, or a
    host port already bound on the host."""
    ports = published_ports(compose_doc)
    taken = set(ports_in_use) | {p.port for p in ports}
    findings = []
    for i, first in enumerate(ports):
        for second in ports[i + 1 :]:
            same_address = (
                first.host_ip == second.host_ip
                or first.host_ip in ANY_ADDRESS
                or second.host_ip in ANY_ADDRESS
            )
            if first.port == second.port and first.protocol == second.protocol and same_address:
                other = _free_port(second.port, taken)
                taken.add(other)
                findings.append(
                    Finding(
                        "ports",
                        "high",
                        f"services {first.service} and {second.service} both publish host port "
                        f"{first.port}: the second cannot start",
                        f"publish another port for {second.service}, e.g. "
                        f"{second.where}.published: {other}",
                        second.where,
                    )
                )
    services: Mapping[str, Any] = compose_doc.get("services") or {}
    for port in ports:
        replicas = (services[port.service].get("deploy") or {}).get("replicas", 1)
        if replicas > 1:
            findings.append(
                Finding(
                    "ports",
                    "high",
                    f"service {port.service} runs {replicas} replicas on the fixed host port "
                    f"{port.port}: only the first can bind it",
                    f"run one replica where the port is published, or remove {port.where}."
                    "published and put a load balancer in front",
                    port.where,
                )
            )
        if port.protocol == "tcp" and port.port in ports_in_use:
            other = _free_port(port.port, taken)
            taken.add(other)
            findings.append(
                Finding(
                    "ports",
                    "high",
                    f"host port {port.port} (service {port.service}) is already in use on this "
                    "host (unless this deployment is already running)",
                    f"stop what listens on it (ss -ltnp 'sport = :{port.port}') or set "
                    f"{port.where}.published: {other}",
                    port.where,
                )
            )
    return findings
