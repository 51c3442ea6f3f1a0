"""The security audit of a generated compose document: privileges, credentials, users,
filesystems, published ports and host access, each finding with its fix."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from mmstack.ops.findings import Finding
from mmstack.ops.network_checks import ANY_ADDRESS, published_ports

DANGEROUS_CAPABILITIES: Final = frozenset(
    {
        "ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_BOOT", "SYS_TIME",
        "NET_ADMIN", "DAC_READ_SEARCH", "DAC_OVERRIDE", "BPF", "PERFMON", "MAC_ADMIN",
        "MAC_OVERRIDE", "SETFCAP", "LINUX_IMMUTABLE",
    }
)  # fmt: skip
WEAK_VALUES: Final = frozenset(
    {
        "password", "passw0rd", "admin", "administrator", "changeme", "change-me", "secret",
        "123456", "12345678", "123456789", "qwerty", "letmein", "root", "toor", "default",
        "test", "guest", "postgres", "mysql", "minioadmin", "minio123", "redis", "example",
    }
)  # fmt: skip
DEFAULT_USER_NAMES: Final = frozenset({"admin", "administrator", "root", "user", "sa"})
MIN_PASSWORD_LENGTH: Final = 12
SECRET_NAME: Final = re.compile(
    r"(PASSWORD|PASSWD|PWD|SECRET|TOKEN|CREDENTIALS|APIKEY|"
    r"(API|ACCESS|SECRET|PRIVATE|MASTER|ENCRYPTION|SERVICE|SIGNING|AUTH|LICENSE)_KEY)$"
)
USER_NAME: Final = re.compile(r"(USER|USERNAME|LOGIN)$")
SECRETS_MOUNT: Final = "/run/secrets/"
BACKENDS: Final = (
    "postgres", "mysql", "mariadb", "redis", "valkey", "qdrant", "minio", "mongo",
    "elasticsearch", "opensearch", "memcached", "rabbitmq", "kafka", "etcd", "clickhouse",
    "weaviate", "milvus", "chroma", "loki", "nats", "zookeeper",
)  # fmt: skip
DOCKER_SOCKETS: Final = ("/var/run/docker.sock", "/run/docker.sock")
READ_ONLY_FIX: Final = "set read_only: true and list writable paths in tmpfs"


def _bare_name(variable: str) -> str:
    return variable.upper().removesuffix("_FILE").rstrip("_")


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    pairs = (str(item).partition("=") for item in raw)
    return {name: value for name, _, value in pairs}


def _credentials(name: str, service: Mapping[str, Any]) -> Iterator[Finding]:
    environment = _environment(service)
    user_names = {
        value.lower() for key, value in environment.items() if USER_NAME.search(_bare_name(key))
    }
    for variable, value in environment.items():
        where = f"services.{name}.environment.{variable}"
        bare = _bare_name(variable)
        url_password = urlsplit(value).password if "://" in value else None
        if url_password:
            yield Finding(
                "plain-secret",
                "high",
                f"{name}: {variable} holds a URL with a password in it",
                "give the password as a secret file (a secret in the stack file, its path in a "
                "*_PASSWORD_FILE variable) and keep it out of the URL",
                where,
            )
        if USER_NAME.search(bare) and value.lower() in DEFAULT_USER_NAMES:
            yield Finding(
                "weak-credential",
                "low",
                f"{name}: {variable} is the default user name '{value}', the first one guessed",
                f"set {variable} to a less guessable name",
                where,
            )
        if not SECRET_NAME.search(bare) or not value or value.startswith(SECRETS_MOUNT):
            continue
        if variable.upper().endswith("_FILE") and value.startswith("/"):
            yield Finding(
                "plain-secret",
                "low",
                f"{name}: {variable} reads a secret from {value}, outside {SECRETS_MOUNT} "
                "(a file baked into the image or left on a volume?)",
                "give it as a secret in the stack file (mounted under /run/secrets/)",
                where,
            )
            continue
        yield Finding(
            "plain-secret",
            "high",
            f"{name}: the secret {variable} is a plain environment variable (visible in "
            "`docker inspect`, in /proc and to every process of the container)",
            f"add a secret to the stack file and use it as {bare}_FILE (services.{name}.secrets)",
            where,
        )
        if value.lower() in WEAK_VALUES or value.lower() in user_names:
            yield Finding(
                "weak-credential",
                "critical",
                f"{name}: {variable} is a default or guessable value",
                f"generate it (`mmstack secrets ...`) and pass it as {bare}_FILE",
                where,
            )
        elif "PASSWORD" in bare and len(value) < MIN_PASSWORD_LENGTH:
            yield Finding(
                "weak-credential",
                "high",
                f"{name}: {variable} is {len(value)} characters long, under {MIN_PASSWORD_LENGTH}",
                "use a generated password of 32 characters, given as a secret file",
                where,
            )


def _privileges(name: str, service: Mapping[str, Any]) -> Iterator[Finding]:
    where = f"services.{name}"
    if service.get("privileged"):
        yield Finding(
            "privileged",
            "critical",
            f"{name} runs privileged: every capability and every device of the host, "
            "root on the host in all but name",
            f"remove privileged: true from {where}; add only the capabilities it needs "
            "(capabilities_add)",
            f"{where}.privileged",
        )
    added = {str(c).upper().removeprefix("CAP_") for c in service.get("cap_add") or []}
    for capability in sorted(added & DANGEROUS_CAPABILITIES):
        yield Finding(
            "capabilities",
            "high",
            f"{name} adds the capability {capability}, enough to escape or subvert the host",
            f"remove {capability} from {where}.capabilities_add",
            f"{where}.capabilities_add",
        )
    dropped = {str(c).upper().removeprefix("CAP_") for c in service.get("cap_drop") or []}
    if "ALL" not in dropped and not service.get("privileged"):
        yield Finding(
            "capabilities",
            "low",
            f"{name} keeps Docker's default capabilities",
            "drop them all (cap_drop: [ALL]) and add back only those it needs",
            where,
        )
    options = [str(o).replace("=", ":") for o in service.get("security_opt") or []]
    if not any(o.startswith("no-new-privileges") and not o.endswith("false") for o in options):
        yield Finding(
            "privileges",
            "low",
            f"{name} may gain privileges through setuid programs",
            "add security_opt: [no-new-privileges:true]",
            where,
        )
    for option in options:
        if option in ("seccomp:unconfined", "apparmor:unconfined"):
            yield Finding(
                "privileges",
                "high",
                f"{name} runs with {option}: the kernel filter meant to contain it is off",
                f"remove {option} from security_opt",
                where,
            )
    user = str(service.get("user") or "")
    if user.split(":")[0] in ("0", "root"):
        yield Finding(
            "root-user",
            "high",
            f"{name} runs as root (user {user})",
            f"set {where}.user to a non-root uid:gid the image supports",
            f"{where}.user",
        )
    elif not user:
        yield Finding(
            "root-user",
            "medium",
            f"{name} runs as the image's default user, often root",
            f"set {where}.user to a non-root uid:gid the image supports",
            f"{where}.user",
        )
    if not service.get("read_only", False):
        yield Finding(
            "read-only",
            "medium",
            f"{name} has a writable root filesystem: a compromise can change its programs",
            READ_ONLY_FIX,
            f"{where}.read_only",
        )


def _host_access(name: str, service: Mapping[str, Any]) -> Iterator[Finding]:
    where = f"services.{name}"
    for namespace in ("network_mode", "pid", "ipc"):
        if str(service.get(namespace, "")) == "host":
            yield Finding(
                "host-namespace",
                "high",
                f"{name} shares the host's {namespace.removesuffix('_mode')} namespace",
                f"remove {namespace}: host; use the stack's networks and publish ports",
                where,
            )
    for volume in service.get("volumes") or []:
        source = (
            str(volume.get("source", ""))
            if isinstance(volume, Mapping)
            else str(volume).split(":")[0]
        )
        if source in DOCKER_SOCKETS:
            yield Finding(
                "docker-socket",
                "critical",
                f"{name} mounts the Docker socket: whoever controls it controls the host",
                "remove the mount; if it must see containers, use a read-only socket proxy that "
                "allows only the calls it needs",
                f"{where}.volumes",
            )


def _is_backend(name: str, service: Mapping[str, Any]) -> bool:
    image = str(service.get("image", "")).rsplit("/", 1)[-1].split(":")[0]
    return any(b in name or b in image for b in BACKENDS)


def _ports(compose_doc: Mapping[str, Any]) -> Iterator[Finding]:
    services: Mapping[str, Any] = compose_doc.get("services") or {}
    for port in published_ports(compose_doc):
        everywhere = port.host_ip in ANY_ADDRESS
        address = "every address (0.0.0.0)" if everywhere else port.host_ip
        if _is_backend(port.service, services[port.service]):
            yield Finding(
                "published-port",
                "high" if everywhere else "medium",
                f"{port.service} is a backend and publishes port {port.port} on {address}; "
                "only the stack's services need it",
                f"remove {port.where} (the services reach it on the stack's network); for "
                "maintenance use `docker compose exec`",
                port.where,
            )
        elif everywhere:
            yield Finding(
                "published-port",
                "medium",
                f"{port.service} publishes port {port.port} on every address (0.0.0.0)",
                f"set {port.where}.host_ip: 127.0.0.1 and put a TLS reverse proxy in front",
                port.where,
            )


def security_audit(compose_doc: Mapping[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    services: Mapping[str, Any] = compose_doc.get("services") or {}
    for name, service in services.items():
        findings += _privileges(name, service)
        findings += _credentials(name, service)
        findings += _host_access(name, service)
    findings += _ports(compose_doc)
    return findings
