"""`mmstack doctor`: the checks on stack files and compose documents made here, with the host's
facts injected (routes, Docker networks, ports, GPUs); the gatherers on this real host; the
command through typer's runner."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from mmstack.cli.doctor import doctor
from mmstack.ops.compose import render_compose
from mmstack.ops.doctor import config_check, gpu_check, run_doctor
from mmstack.ops.findings import Finding, blocking, ordered
from mmstack.ops.host_facts import (
    DockerNetwork,
    Gpu,
    HostFacts,
    Route,
    bound_ports,
    docker_networks,
    gather_host_facts,
    gpus,
    host_routes,
    parse_docker_inspect,
    parse_ip_route_json,
    parse_nvidia_smi,
    parse_proc_net_tcp,
    parse_proc_route,
    ports_in_use,
)
from mmstack.ops.network_checks import port_conflicts, subnet_conflicts
from mmstack.ops.security_audit import READ_ONLY_FIX, security_audit
from mmstack.ops.stack_file import ENVIRONMENTS, PACKAGED_STACK, load_stack_file
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server

runner = CliRunner()


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def stack_yaml(subnet: str = "172.31.200.0/24", **service: Any) -> dict[str, Any]:
    app = {
        "stack": "core",
        "image": "ghcr.io/example/app:1.0",
        "user": "1000:1000",
        "networks": ["inner"],
        **service,
    }
    return {
        "version": 1,
        "project": "doctortest",
        "networks": {"inner": {"subnet": subnet}},
        "services": {"app": app},
        "environments": {"development": {"stacks": ["core"]}, "gpu": {"requires_gpu": True}},
    }


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def of(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


# --- the acceptance case ---------------------------------------------------------------------


def test_doctor_reports_an_injected_subnet_conflict_and_a_privileged_service(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, stack_yaml("10.20.5.0/24", privileged=True))
    stack = load_stack_file(path)
    facts = HostFacts(routes=[Route(net("10.20.0.0/16"), "wg0"), Route(net("0.0.0.0/0"), "eth0")])

    findings = run_doctor(stack, "development", facts)

    [subnet] = of(findings, "subnet")
    assert subnet.severity == "high"
    assert "inner" in subnet.message
    assert "10.20.0.0/16" in subnet.message
    assert subnet.where == "networks.inner"
    suggested = ipaddress.IPv4Network(subnet.fix.rsplit(" ", 1)[1])
    assert suggested.prefixlen == 24
    assert suggested.subnet_of(ipaddress.IPv4Network("172.16.0.0/12"))
    assert not suggested.overlaps(ipaddress.IPv4Network("10.20.0.0/16"))
    [privileged] = of(findings, "privileged")
    assert privileged.severity == "critical"
    assert "remove privileged: true" in privileged.fix
    assert privileged.where == "services.app.privileged"
    assert findings[0].severity == "critical"  # most severe first
    assert blocking(findings)


def test_the_command_reports_a_privileged_service_with_its_fix_and_exits_1(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, stack_yaml(privileged=True))
    app = typer.Typer()
    app.command()(doctor)

    table = runner.invoke(app, ["--file", str(path)])
    as_json = runner.invoke(app, ["--file", str(path), "--json"])

    assert table.exit_code == 1, table.output
    assert "critical" in table.output
    assert "privileged" in table.output
    assert "1 critical" in table.output
    assert "capabilities_add" in table.output  # the fix, in the table
    assert as_json.exit_code == 1
    findings = json.loads(as_json.output)
    [privileged] = [f for f in findings if f["check"] == "privileged"]
    assert privileged["severity"] == "critical"
    assert privileged["fix"].startswith("remove privileged: true")
    assert set(privileged) == {"check", "severity", "message", "fix", "where"}


def test_the_command_exits_0_when_nothing_is_critical_or_high(tmp_path: Path) -> None:
    path = write(tmp_path, stack_yaml(tmpfs=["/tmp"]))
    app = typer.Typer()
    app.command()(doctor)

    result = runner.invoke(app, ["--file", str(path), "--json"])

    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)
    assert {f["severity"] for f in findings} <= {"medium", "low", "info"}
    assert "gpu" in {f["check"] for f in findings}


def test_the_command_reports_an_invalid_stack_file_and_an_unknown_environment(
    tmp_path: Path,
) -> None:
    app = typer.Typer()
    app.command()(doctor)
    broken = stack_yaml()
    broken["services"]["app"]["networks"] = ["nowhere"]

    invalid = runner.invoke(app, ["--file", str(write(tmp_path, broken)), "--json"])
    (tmp_path / "good").mkdir()
    good = write(tmp_path / "good", stack_yaml())
    unknown = runner.invoke(app, ["--env", "qa", "--file", str(good), "--json"])

    assert invalid.exit_code == 1
    [error] = [f for f in json.loads(invalid.output) if f["check"] == "config"]
    assert error["severity"] == "critical"
    assert "nowhere" in error["message"]
    assert "mmstack stack validate" in error["fix"]
    assert unknown.exit_code == 1
    found = [f for f in json.loads(unknown.output) if f["check"] == "config"]
    assert [(f["severity"], f["where"]) for f in found] == [("critical", "environments")]


# --- subnets -----------------------------------------------------------------------------------


def test_a_docker_network_overlap_is_named_and_a_free_range_suggested() -> None:
    docker = [
        DockerNetwork("bridge", (net("172.17.0.0/16"),)),
        DockerNetwork("other_default", (net("172.30.10.0/24"),), "other"),
    ]
    findings = subnet_conflicts(
        {"edge": "172.30.10.0/24", "backend": "172.30.11.0/24", "mine": "172.17.5.0/24"},
        [],
        docker,
    )

    assert [f.where for f in findings] == ["networks.edge", "networks.mine"]
    assert "Docker network other_default" in findings[0].message
    assert "Docker network bridge" in findings[1].message
    suggestions = [ipaddress.IPv4Network(f.fix.rsplit(" ", 1)[1]) for f in findings]
    assert suggestions[0] != suggestions[1]
    taken = [
        ipaddress.IPv4Network(s) for s in ("172.17.0.0/16", "172.30.10.0/24", "172.30.11.0/24")
    ]
    assert not any(s.overlaps(t) for s in suggestions for t in taken)


def test_the_deployments_own_docker_networks_are_not_conflicts() -> None:
    docker = [
        DockerNetwork(
            "doctortest-development_inner", (net("172.31.200.0/24"),), "doctortest-development"
        )
    ]

    assert (
        subnet_conflicts(
            {"inner": "172.31.200.0/24"}, [], docker, own_project="doctortest-development"
        )
        == []
    )
    assert len(subnet_conflicts({"inner": "172.31.200.0/24"}, [], docker)) == 1


def test_public_routes_and_dockers_own_bridge_routes_are_ignored() -> None:
    routes = [
        Route(net("0.0.0.0/0"), "eth0"),
        Route(net("0.0.0.0/1"), "tun0"),  # a VPN's redirect-gateway def1 halves
        Route(net("128.0.0.0/1"), "tun0"),
        Route(net("203.0.113.0/24"), "eth0"),
        Route(net("172.30.10.0/24"), "br-3f2a9c0d1e7b"),
        Route(net("172.17.0.0/16"), "docker0"),
    ]

    assert subnet_conflicts({"edge": "172.30.10.0/24", "x": "172.17.1.0/24"}, routes, []) == []
    private = subnet_conflicts(
        {"edge": "172.30.10.0/24"}, [Route(net("172.30.0.0/16"), "eth1")], []
    )
    assert len(private) == 1
    assert "dev eth1" in private[0].message


# --- ports -------------------------------------------------------------------------------------


def compose(**services: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "services": services}


def port(published: int, host_ip: str = "127.0.0.1") -> dict[str, Any]:
    return {"target": 80, "published": str(published), "host_ip": host_ip, "protocol": "tcp"}


def test_two_services_on_one_host_port_conflict_unless_their_addresses_differ() -> None:
    same = compose(a={"ports": [port(8080)]}, b={"ports": [port(8080, "0.0.0.0")]})
    apart = compose(a={"ports": [port(8080)]}, b={"ports": [port(8080, "127.0.0.2")]})
    short = compose(a={"ports": ["8080:80"]}, b={"ports": ["127.0.0.1:8080:80/tcp"]})

    [finding] = port_conflicts(same, set())
    assert finding.severity == "high"
    assert finding.where == "services.b.ports[0]"
    assert "published: 8081" in finding.fix
    assert port_conflicts(apart, set()) == []
    assert len(port_conflicts(short, set())) == 1


def test_a_published_port_already_bound_on_the_host_is_a_conflict() -> None:
    document = compose(a={"ports": [port(8000)]}, b={"ports": [{"target": 9000}]})

    [finding] = port_conflicts(document, {8000, 8001, 22})
    assert "8000" in finding.message
    assert "published: 8002" in finding.fix
    assert port_conflicts(document, {22}) == []


def test_replicas_on_a_fixed_host_port_conflict_and_services_scaled_to_zero_publish_nothing() -> (
    None
):
    document = compose(
        api={"ports": [port(8000)], "deploy": {"replicas": 3}},
        idle={"ports": [port(8000)], "deploy": {"replicas": 0}},
    )

    [finding] = port_conflicts(document, set())
    assert "3 replicas" in finding.message


def test_replicas_of_the_default_stack_publish_a_port_range_not_one_port() -> None:
    stack = load_stack_file(PACKAGED_STACK)

    for env in ("development", "staging", "production", "gpu"):
        assert port_conflicts(render_compose(stack, env), set()) == [], env


# --- GPUs --------------------------------------------------------------------------------------

A100 = Gpu("NVIDIA A100-SXM4-40GB", 40960)


def test_gpu_checks() -> None:
    [cpu] = gpu_check(False, [], detail="nvidia-smi is not installed")
    [unused] = gpu_check(False, [A100])
    [missing] = gpu_check(True, [])
    [short] = gpu_check(True, [A100], reserved=2)
    [fine] = gpu_check(True, [A100, A100], reserved=2)

    assert cpu.severity == "info"
    assert "CPU" in cpu.message
    assert "nvidia-smi" in cpu.message
    assert unused.severity == "info"
    assert "--env gpu" in unused.fix
    assert missing.severity == "high"
    assert "NVIDIA Container Toolkit" in missing.fix
    assert short.severity == "high"
    assert "2 GPU(s)" in short.message
    assert fine.severity == "info"
    assert "40960 MiB" in fine.message


def test_the_gpu_environment_of_the_default_stack_needs_the_gpu_it_reserves() -> None:
    stack = load_stack_file(PACKAGED_STACK)

    without = of(run_doctor(stack, "gpu", HostFacts()), "gpu")
    with_one = of(run_doctor(stack, "gpu", HostFacts(gpus=[A100])), "gpu")
    development = of(run_doctor(stack, "development", HostFacts(gpus=[A100])), "gpu")

    assert [f.severity for f in without] == ["high"]
    assert [f.severity for f in with_one] == ["info"]
    assert [f.severity for f in development] == ["info"]


# --- configuration -----------------------------------------------------------------------------


def test_config_check(tmp_path: Path) -> None:
    stack, findings = config_check(PACKAGED_STACK, "production")
    assert stack is not None
    # No backup was ever taken with these settings (tests/ops/test_backup.py: the others).
    assert [(f.check, f.severity) for f in findings] == [("backup", "medium")]

    _, unknown = config_check(PACKAGED_STACK, "qa")
    assert [f.severity for f in unknown if f.check == "config"] == ["critical"]
    assert "qa" in unknown[0].message

    broken = stack_yaml()
    broken["networks"]["inner"]["subnet"] = "8.8.8.0/24"
    none, invalid = config_check(write(tmp_path, broken), "development")
    assert none is None
    assert [f.where for f in invalid if f.check == "config"] == ["networks.inner"]

    _, settings = config_check(PACKAGED_STACK, "development", tmp_path / "missing.toml")
    assert [f.severity for f in settings] == ["high"]
    assert "missing.toml" in settings[0].message


def test_config_check_reaches_the_object_store(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.new_bucket()
    secret = tmp_path / "s3-secret"
    secret.write_text(SECRET_ACCESS_KEY)
    for name, value in {
        "MMSTACK_DATA_DIR": str(tmp_path / "data"),
        "MMSTACK_BLOBS__BACKEND": "s3",
        "MMSTACK_BLOBS__BUCKET": bucket,
        "MMSTACK_BLOBS__ENDPOINT_URL": s3_server.url,
        "MMSTACK_BLOBS__ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MMSTACK_BLOBS__SECRET_ACCESS_KEY_FILE": str(secret),
    }.items():
        monkeypatch.setenv(name, value)
    _, found = config_check(PACKAGED_STACK, "production")
    reachable = [f for f in found if f.check == "blobs"]
    assert [(f.check, f.severity) for f in reachable] == [("blobs", "info")]
    assert bucket in reachable[0].message

    monkeypatch.setenv("MMSTACK_BLOBS__BUCKET", "not-made-yet")
    _, found = config_check(PACKAGED_STACK, "production")
    missing = [f for f in found if f.check == "blobs"]
    assert [(f.check, f.severity) for f in missing] == [("blobs", "critical")]
    assert "'not-made-yet'" in missing[0].message
    assert SECRET_ACCESS_KEY not in missing[0].message


# --- the security audit ------------------------------------------------------------------------

SAFE: dict[str, Any] = {
    "image": "ghcr.io/example/app:1.0",
    "user": "1000:1000",
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "environment": {"APP_PASSWORD_FILE": "/run/secrets/app-password", "APP_USER": "app"},
    "ports": [port(8080)],
}

RULES = [
    ({"privileged": True}, "privileged", "critical"),
    ({"cap_add": ["SYS_ADMIN"]}, "capabilities", "high"),
    ({"cap_add": ["CAP_NET_ADMIN"]}, "capabilities", "high"),
    ({"cap_drop": []}, "capabilities", "low"),
    ({"security_opt": []}, "privileges", "low"),
    ({"security_opt": ["no-new-privileges:true", "seccomp=unconfined"]}, "privileges", "high"),
    ({"environment": {"DB_PASSWORD": "changeme"}}, "weak-credential", "critical"),
    ({"environment": {"DB_USER": "app", "DB_PASSWORD": "app"}}, "weak-credential", "critical"),
    ({"environment": {"DB_PASSWORD": "Tr0ub4dor"}}, "weak-credential", "high"),
    ({"environment": {"ADMIN_USER": "admin"}}, "weak-credential", "low"),
    (
        {"environment": {"OPENAI_API_KEY": "sk-9c1f0e2a7b3d4c5e6f708192a3b4c5d6"}},
        "plain-secret",
        "high",
    ),
    ({"environment": ["WEBHOOK_TOKEN=9c1f0e2a7b3d4c5e6f708192a3b4"]}, "plain-secret", "high"),
    (
        {"environment": {"DATABASE_URL": "postgresql://app:hunter2hunter2@db/app"}},
        "plain-secret",
        "high",
    ),
    ({"environment": {"APP_SECRET_FILE": "/data/secret.txt"}}, "plain-secret", "low"),
    ({"user": "0:0"}, "root-user", "high"),
    ({"user": "root"}, "root-user", "high"),
    ({"user": None}, "root-user", "medium"),
    ({"read_only": False}, "read-only", "medium"),
    ({"ports": [port(8080, "0.0.0.0")]}, "published-port", "medium"),
    ({"ports": ["8080:80"]}, "published-port", "medium"),
    ({"image": "postgres:17-alpine", "ports": [port(5432)]}, "published-port", "medium"),
    ({"image": "redis:7", "ports": [port(6379, "0.0.0.0")]}, "published-port", "high"),
    ({"network_mode": "host"}, "host-namespace", "high"),
    ({"pid": "host"}, "host-namespace", "high"),
    ({"volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro"]}, "docker-socket", "critical"),
    (
        {"volumes": [{"type": "bind", "source": "/run/docker.sock", "target": "/s"}]},
        "docker-socket",
        "critical",
    ),
]


def test_a_hardened_service_passes_the_audit() -> None:
    assert security_audit(compose(app=SAFE)) == []


@pytest.mark.parametrize(("change", "check", "severity"), RULES)
def test_each_audit_rule_fires(change: dict[str, Any], check: str, severity: str) -> None:
    findings = security_audit(compose(app={**SAFE, **change}))

    matching = [f for f in findings if f.check == check and f.severity == severity]
    assert matching, findings
    assert all(f.fix and f.where.startswith("services.app") for f in findings)


def test_a_writable_root_filesystem_is_medium_with_the_tmpfs_fix() -> None:
    [finding] = security_audit(compose(app={**SAFE, "read_only": False}))

    assert (finding.severity, finding.fix) == ("medium", READ_ONLY_FIX)
    assert READ_ONLY_FIX == "set read_only: true and list writable paths in tmpfs"


def test_secret_files_and_harmless_names_are_not_secrets() -> None:
    environment = {
        "N8N_ENCRYPTION_KEY_FILE": "/run/secrets/n8n-encryption-key",
        "GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/grafana-admin-password",
        "ACCESS_TOKEN_TTL_SECONDS": "900",
        "MAX_TOKENS": "4096",
        "N8N_SECURE_COOKIE": "true",
        "SSH_PUBLIC_KEY": "ssh-ed25519 AAAA",
        "QDRANT_URL": "http://qdrant:6333",
    }

    assert security_audit(compose(app={**SAFE, "environment": environment})) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_default_stack_passes_the_audit(env: str) -> None:
    document = render_compose(load_stack_file(PACKAGED_STACK), env)

    findings = security_audit(document)

    assert not blocking(findings), [f for f in findings if f.severity in ("critical", "high")]
    assert not of(findings, "plain-secret")
    assert not of(findings, "root-user")


def test_ordered_puts_the_most_severe_first() -> None:
    findings = [
        Finding("a", "info", "i"),
        Finding("b", "critical", "c"),
        Finding("c", "medium", "m"),
    ]

    assert [f.severity for f in ordered(findings)] == ["critical", "medium", "info"]


# --- the host's facts: parsers, then gathering on this host ------------------------------------

PROC_ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wg0\t0000140A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_parsers() -> None:
    assert parse_proc_route(PROC_ROUTE) == [
        Route(net("0.0.0.0/0"), "eth0"),
        Route(net("192.0.2.0/24"), "eth0"),
        Route(net("10.20.0.0/16"), "wg0"),
    ]
    assert parse_ip_route_json(
        '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"},'
        '{"type":"local","dst":"192.0.2.2","dev":"eth0"},{"dst":"fd00::/64","dev":"eth0"}]'
    ) == [
        Route(net("0.0.0.0/0"), "eth0"),
        Route(net("192.0.2.2/32"), "eth0"),
        Route(net("fd00::/64"), "eth0"),
    ]
    tcp = (
        "  sl  local_address rem_address   st\n"
        "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000\n"
        "   1: 0100007F:D431 0100007F:1F40 01 00000000:00000000\n"
    )
    assert parse_proc_net_tcp(tcp) == {8000}
    assert parse_nvidia_smi("NVIDIA A100-SXM4-40GB, 40960 MiB\nTesla T4, 15360 MiB\n") == [
        A100,
        Gpu("Tesla T4", 15360),
    ]
    inspected = json.dumps(
        [
            {
                "Name": "bridge",
                "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
            },
            {"Name": "host", "IPAM": {"Config": None}},
            {
                "Name": "mmstack-development_edge",
                "IPAM": {"Config": [{"Subnet": "172.30.10.0/24"}]},
                "Labels": {"com.docker.compose.project": "mmstack-development"},
            },
        ]
    )
    assert parse_docker_inspect(inspected) == [
        DockerNetwork("bridge", (net("172.17.0.0/16"),)),
        DockerNetwork("host", ()),
        DockerNetwork("mmstack-development_edge", (net("172.30.10.0/24"),), "mmstack-development"),
    ]


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def test_ports_in_use_on_this_host(listening: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])

    assert listening in ports_in_use()
    assert free not in ports_in_use()
    assert bound_ports([listening, free]) == {listening}


def test_the_gatherers_run_on_this_host() -> None:
    routes = host_routes()
    from_proc = parse_proc_route(Path("/proc/net/route").read_text())
    networks, problem = docker_networks()
    found, gpu_problem = gpus()
    facts = gather_host_facts([8000])

    assert set(from_proc) <= set(routes)  # `ip -j route` agrees with the kernel's table
    assert facts.routes == routes
    assert (networks is None) == bool(problem)
    if shutil.which("docker") is None or networks is None:
        assert facts.docker_networks is None
        assert facts.docker_problem
    if shutil.which("nvidia-smi") is None:
        assert found == []
        assert gpu_problem == "nvidia-smi is not installed"
    stack = load_stack_file(PACKAGED_STACK)
    findings = run_doctor(stack, "development", facts)
    assert of(findings, "gpu")
    if facts.docker_networks is None:
        assert [f.severity for f in of(findings, "docker")] == ["info"]
