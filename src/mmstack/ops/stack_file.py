"""`stack.yaml`: the one description of a deployment. Services grouped into stacks,
environments that override them, networks, volumes, secrets and health checks. Compose
files and the Helm chart are generated from it; `mmstack stack validate` checks it."""

# Longer than 400 lines: the whole stack-file schema, one small model per part, in one module
# that reads top to bottom as the reference docs/stack.schema.json is generated from.

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mmstack.config.settings import RetentionSettings
from mmstack.errors import InvalidRequestError

NAME = r"^[a-z][a-z0-9-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME)]
STACKS = ("core", "inference", "ai", "ui", "testing", "monitoring")
ENVIRONMENTS = ("development", "staging", "production", "gpu")
Stack = Literal["core", "inference", "ai", "ui", "testing", "monitoring"]
EnvironmentName = Literal["development", "staging", "production", "gpu"]
MEMORY = re.compile(r"^[0-9]+(Ki|Mi|Gi)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Port(_Strict):
    target: int = Field(ge=1, le=65535, description="Port inside the container")
    published: int | None = Field(
        None, ge=1, le=65535, description="Port on the host (compose); none: not published"
    )
    host_ip: str = Field("127.0.0.1", description="Host address a published port binds to")


class HealthCheck(_Strict):
    """How to tell the service is ready: an HTTP GET, a TCP connect, or a command."""

    http_path: str | None = Field(None, pattern=r"^/")
    live_path: str | None = Field(
        None,
        pattern=r"^/",
        description="Kubernetes: the path that says the process is alive (liveness), where "
        "http_path also checks its dependencies (readiness); default: http_path",
    )
    port: int | None = Field(None, ge=1, le=65535)
    command: list[str] | None = None
    interval_seconds: int = Field(10, ge=1)
    timeout_seconds: int = Field(5, ge=1)
    retries: int = Field(5, ge=1)
    start_period_seconds: int = Field(10, ge=0)

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        if self.command is None and self.port is None:
            raise ValueError("a health check needs a command, or a port (with http_path for HTTP)")
        if self.command is not None and (self.http_path or self.port):
            raise ValueError("a health check is a command or a port check, not both")
        if self.live_path is not None and self.http_path is None:
            raise ValueError("live_path goes with http_path (an HTTP health check)")
        return self


class Resources(_Strict):
    cpus: float | None = Field(None, gt=0, description="CPU limit, in cores")
    memory: str | None = Field(None, description="Memory limit: 512Mi, 2Gi")
    cpus_request: float | None = Field(None, gt=0)
    memory_request: str | None = None

    @model_validator(mode="after")
    def _memory_units(self) -> Resources:
        for value in (self.memory, self.memory_request):
            if value is not None and not MEMORY.match(value):
                raise ValueError(f"memory '{value}' must be a whole number of Ki, Mi or Gi")
        return self


class VolumeMount(_Strict):
    source: Name = Field(description="A volume of the stack file")
    target: str = Field(pattern=r"^/")
    read_only: bool = False


class SecretUse(_Strict):
    """A secret given to the service as the file /run/secrets/<secret>, its path in an
    environment variable (none: the service's configuration names the file itself)."""

    secret: Name
    env: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]*$", description="Variable naming the file"
    )
    value_env: str | None = Field(
        None,
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="Variable that must hold the value itself (an image that cannot read a "
        "file): set from the file when the container starts, never in the deployment; the "
        "service's command must then be its whole command line",
    )


class GeneratedFile(_Strict):
    """A file mmstack writes for the service from the stack file (compose: a config)."""

    kind: Literal[
        "prometheus-config",
        "prometheus-rules",
        "grafana-datasources",
        "grafana-dashboard-provider",
        "grafana-dashboards",
    ] = Field(
        description="prometheus-config: the scrape configuration of mmstack's processes; "
        "prometheus-rules: its alert rules; grafana-datasources: Grafana's data sources (the "
        "deployment's Prometheus and Loki); grafana-dashboard-provider: where Grafana finds "
        "the dashboards; grafana-dashboards: mmstack's dashboards (a directory). "
        "`mmstack deploy monitoring` writes the same files"
    )
    target: str = Field(pattern=r"^/", description="Its path inside the container")


class Service(_Strict):
    stack: Stack
    image: str = Field(min_length=1)
    build: bool = Field(
        False,
        description="Built from mmstack's source tree (its Dockerfile) and tagged `image`, when "
        "`mmstack deploy compose` is given the tree (--source); an environment that sets "
        "`image` runs that image instead",
    )
    command: list[str] | None = None
    description: str = ""
    ports: list[Port] = []
    environment: dict[str, str] = {}
    secrets: list[SecretUse] = []
    depends_on: list[Name] = []
    healthcheck: HealthCheck | None = None
    user: str | None = Field(
        None, pattern=r"^[0-9]+(:[0-9]+)?$", description="uid[:gid]; none: the image's"
    )
    read_only: bool = Field(True, description="Read-only root filesystem")
    tmpfs: list[str] = Field([], description="Writable in-memory directories")
    networks: list[Name] = []
    volumes: list[VolumeMount] = []
    resources: Resources = Resources()
    replicas: int = Field(1, ge=0)
    gpus: int = Field(0, ge=0, description="GPUs reserved (only where an environment asks)")
    autoscale_max: int | None = Field(
        None, ge=1, description="Helm: a HorizontalPodAutoscaler up to this many replicas"
    )
    privileged: bool = False
    capabilities_add: list[str] = []
    generated: list[GeneratedFile] = Field(
        [], description="Files generated from the stack file, mounted read-only (compose)"
    )
    migrate: list[str] | None = Field(
        None,
        description="Kubernetes: a command run once, as a Job, before an upgrade's new pods "
        "start (schema migrations)",
    )

    @model_validator(mode="after")
    def _command_for_values(self) -> Service:
        if any(use.value_env for use in self.secrets) and not self.command:
            raise ValueError(
                "a secret given by value_env needs the service's whole command line in command"
            )
        return self

    def secret_value_wrapper(self) -> list[str] | None:
        """The entrypoint that sets `value_env` variables from their secret files, then
        runs the command; None when no secret is given by value. `$$` is a literal `$` to
        both compose and Kubernetes."""
        exports = [
            f'export {use.value_env}="$$(cat /run/secrets/{use.secret})"'
            for use in self.secrets
            if use.value_env
        ]
        if not exports:
            return None
        return ["/bin/sh", "-c", "; ".join([*exports, 'exec "$$@"']), "--"]


class Network(_Strict):
    subnet: str = Field(description="A private IPv4 range, e.g. 172.30.0.0/24")
    internal: bool = Field(False, description="No route outside (compose)")

    @model_validator(mode="after")
    def _private(self) -> Network:
        try:
            network = ipaddress.ip_network(self.subnet, strict=True)
        except ValueError as exc:
            raise ValueError(f"subnet '{self.subnet}': {exc}") from None
        if not network.is_private:
            raise ValueError(f"subnet '{self.subnet}' is not a private range")
        return self


class Volume(_Strict):
    size: str = Field("10Gi", description="Helm: size of its PersistentVolumeClaim")
    holds: Literal["db", "index", "blobs", "cache", "logs", "models", "backups"] | None = Field(
        None,
        description="What kind of mmstack's data it holds: `mmstack wipe <kind> --env ENV` "
        "removes it from that environment's compose deployment (backups: never)",
    )


class SecretSpec(_Strict):
    kind: Literal["password", "token", "key", "mmstack-api-key"] = Field(
        "password",
        description="password: for a service account; token: an API key; key: bytes (hex); "
        "mmstack-api-key: an mmstack API key, mmk_<id>_<secret>",
    )
    rotate_days: int = Field(90, ge=1, description="Rotation policy: age after which it is due")
    length: int = Field(32, ge=16, le=128)
    description: str = ""


class ServiceOverride(_Strict):
    """What an environment changes in a service."""

    image: str | None = None
    replicas: int | None = Field(None, ge=0)
    resources: Resources | None = None
    gpus: int | None = Field(None, ge=0)
    environment: dict[str, str] | None = None
    ports: list[Port] | None = None
    autoscale_max: int | None = Field(None, ge=1)


class Environment(_Strict):
    description: str = ""
    stacks: list[Stack] = Field(["core"], description="Stacks deployed by default")
    services: dict[Name, ServiceOverride] = {}
    requires_gpu: bool = False
    retention: RetentionSettings | None = Field(
        None,
        description="How long this environment keeps each kind of data (days; 0: for ever), "
        "given to the services that run mmstack as MMSTACK_RETENTION__* variables; a field "
        "left out keeps mmstack's default",
    )


class StackFile(_Strict):
    version: Literal[1] = 1
    project: Name = "mmstack"
    networks: dict[Name, Network]
    volumes: dict[Name, Volume] = {}
    secrets: dict[Name, SecretSpec] = {}
    services: dict[Name, Service]
    environments: dict[EnvironmentName, Environment]

    @model_validator(mode="after")
    def _references(self) -> StackFile:
        problems = reference_problems(self.model_dump())
        subnets = [(n, ipaddress.ip_network(net.subnet)) for n, net in self.networks.items()]
        for i, (a, net_a) in enumerate(subnets):
            for b, net_b in subnets[i + 1 :]:
                if net_a.overlaps(net_b):
                    problems.append(f"networks.{b}: subnet {net_b} overlaps network {a} ({net_a})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def environment(self, name: str) -> Environment:
        if name not in self.environments:
            known = ", ".join(self.environments)
            raise InvalidRequestError(f"no environment '{name}' in the stack file ({known})")
        return self.environments[name]

    def resolved(self, env_name: str, stacks: list[str] | None = None) -> dict[str, Service]:
        """The services of `stacks` (default: the environment's) with the environment's
        overrides applied; dependencies in other stacks are included."""
        env = self.environment(env_name)
        wanted = set(stacks or env.stacks)
        if unknown := wanted - set(STACKS):
            raise InvalidRequestError(
                f"unknown stack '{sorted(unknown)[0]}'; one of {', '.join(STACKS)}"
            )
        chosen = {n for n, s in self.services.items() if s.stack in wanted}
        pending = list(chosen)
        while pending:
            for dependency in self.services[pending.pop()].depends_on:
                if dependency not in chosen:
                    chosen.add(dependency)
                    pending.append(dependency)
        result: dict[str, Service] = {}
        for name in sorted(chosen):
            service = self.services[name]
            override = env.services.get(name)
            if override is not None:
                changes = override.model_dump(exclude_none=True)
                if "environment" in changes:
                    changes["environment"] = {**service.environment, **changes["environment"]}
                service = service.model_copy(update=changes, deep=True)
                if override.resources is not None:
                    service.resources = override.resources
                if override.ports is not None:
                    service.ports = override.ports
                if override.image is not None:
                    service.build = False  # a configured image is run as it is
            if not env.requires_gpu:
                service = service.model_copy(update={"gpus": 0})
            if env.retention is not None and (service.command or [""])[0] == "mmstack":
                # Set where mmstack runs; a variable the service sets itself wins.
                kept = env.retention.model_dump(exclude_unset=True).items()
                policy = {f"MMSTACK_RETENTION__{k.upper()}": str(v) for k, v in kept}
                environment = {**policy, **service.environment}
                service = service.model_copy(update={"environment": environment})
            result[name] = service
        return result


def reference_problems(data: Mapping[str, Any]) -> list[str]:
    """Names used but not defined (services, networks, volumes, secrets), with their paths.
    Works on the parsed YAML too, so a file with other errors gets these reported as well;
    parts of the wrong shape are skipped (their own errors say why)."""

    def names(key: str) -> set[str]:
        value = data.get(key)
        return set(value) if isinstance(value, Mapping) else set()

    def items(value: Any) -> list[Any]:
        return list(value) if isinstance(value, list) else []

    services, networks, volumes, secrets = (
        names("services"),
        names("networks"),
        names("volumes"),
        names("secrets"),
    )
    problems: list[str] = []
    for name, service in (data.get("services") or {}).items():
        if not isinstance(service, Mapping):
            continue
        for other in items(service.get("depends_on")):
            if other not in services:
                problems.append(f"services.{name}.depends_on: no service '{other}'")
        for network in items(service.get("networks")):
            if network not in networks:
                problems.append(f"services.{name}.networks: no network '{network}'")
        for mount in items(service.get("volumes")):
            source = mount.get("source") if isinstance(mount, Mapping) else None
            if source is not None and source not in volumes:
                problems.append(f"services.{name}.volumes: no volume '{source}'")
        for use in items(service.get("secrets")):
            secret = use.get("secret") if isinstance(use, Mapping) else None
            if secret is not None and secret not in secrets:
                problems.append(f"services.{name}.secrets: no secret '{secret}'")
    environments = data.get("environments")
    for env_name, env in (environments if isinstance(environments, Mapping) else {}).items():
        overrides = env.get("services") if isinstance(env, Mapping) else None
        for name in overrides if isinstance(overrides, Mapping) else {}:
            if name not in services:
                problems.append(f"environments.{env_name}.services: no service '{name}'")
    return problems


class StackFileError(InvalidRequestError):
    code = "invalid_stack_file"

    def __init__(self, path: Path, errors: list[str]) -> None:
        super().__init__(f"{path}: {len(errors)} error(s)\n" + "\n".join(f"  {e}" for e in errors))
        self.errors = errors


def error_path(location: tuple[int | str, ...]) -> str:
    """A pydantic location as a path into the file: services.api.ports[0].target."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + part
    return path


PACKAGED_STACK: Final = Path(__file__).with_name("stack.default.yaml")


def locate_stack_file(path: Path | None) -> Path:
    """The stack file to use: `path`, else ./stack.yaml, else the packaged default."""
    if path is not None:
        return path
    local = Path("stack.yaml")
    return local if local.exists() else PACKAGED_STACK


def load_stack_file(path: Path) -> StackFile:
    """Read and validate; every problem is reported with its path in the file."""
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise StackFileError(path, [f"cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise StackFileError(path, [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise StackFileError(path, ["the stack file must be a mapping at the top"])
    try:
        return StackFile.model_validate(raw)
    except ValidationError as exc:
        errors: list[str] = []
        for error in exc.errors():
            where = error_path(tuple(error["loc"]))
            message = str(error["msg"]).removeprefix("Value error, ")
            if where:
                errors.append(f"{where}: {message}")
            else:
                errors.extend(message.split("; "))
        if all(error["loc"] for error in exc.errors()):  # the model's own check never ran
            errors.extend(reference_problems(raw))
        raise StackFileError(path, errors) from None


def json_schema() -> dict[str, Any]:
    """The stack file's JSON schema (published as docs/stack.schema.json)."""
    schema = StackFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mmstack stack file"
    return schema
