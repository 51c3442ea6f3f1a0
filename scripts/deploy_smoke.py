#!/usr/bin/env python3
# Longer than 400 lines: one script whose steps are one story, run as a file.
"""A smoke test of mmstack's generated docker compose deployment, run for real on this machine
(issue 18, item 4):

    .venv/bin/python scripts/deploy_smoke.py [--keep] [--workdir DIR] [--strict] [--no-cache]

a. starts the private Docker engine (scripts/docker-engine start);
b. builds mmstack's image, tagged as the stack file names it;
c. builds stand-ins for the third-party images no registry can give here
   (tests/standins/images/<name>/Dockerfile: PostgreSQL, Redis, Qdrant, MinIO, and one for
   vLLM and LiteLLM, a fake OpenAI-compatible model server);
d. in a work dir, generates the deployment as a user does (`mmstack secrets init`,
   `mmstack deploy compose --stack core --stack inference`, `mmstack secrets render`) and
   swaps the third-party image names in the compose file for the stand-ins' tags;
e. `docker compose ... up -d --wait` (no build, no pull);
f. from the host, through the published API ports: logs in as the first admin, makes an
   API key, a collection, uploads a PDF that a worker ingests, searches it, and asks a
   knowledge model (`kb/<collection>`) a question whose answer must cite the PDF;
g. ingests 20 text files while one worker container is killed (SIGKILL), then checks every
   file was ingested exactly once (its chunks 0..n-1 once each, its jobs succeeded, the
   vector index holding exactly the chunks);
h. `docker compose down -v` (unless --keep).

Each step prints one line with its duration. Where the generated deployment cannot run as
it is on this host, the step says so (`PROBLEM: ...`) and applies the smallest workaround
outside the compose file, listed again at the end; with --strict such a problem fails the
run instead. Exit status: 0 passed, 1 failed, 77 skipped (`SKIP: <reason>`: no Docker
engine could start).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
ENGINE = REPO / "scripts" / "docker-engine"
PACKAGED_STACK = REPO / "src" / "mmstack" / "ops" / "stack.default.yaml"
STANDINS = REPO / "tests" / "standins"
BASE_IMAGE = "mmstack-base/debian:bookworm"
ENV = "production"
STACKS = ("core", "inference")
MMSTACK_SERVICES = ("api", "worker")
# Third-party service -> its stand-in image (tests/standins/images/<name>).
STANDIN_OF = {
    "postgres": "postgres",
    "redis": "redis",
    "qdrant": "qdrant",
    "minio": "minio",
    "vllm": "llm",
    "litellm": "llm",
}
API_PORT = 8000
ADMIN = "admin"  # auth.initial_admin_username's default
SKIP_STATUS = 77
BATCH_FILES = 20
ENGINE_TIMEOUT = 1200
BUILD_TIMEOUT = 1800
UP_TIMEOUT = 600
INGEST_TIMEOUT = 600

PDF_NAME = "crane-manual.pdf"
PDF_SENTENCE = (
    "The Vantablue harbour crane at Ostrander Quay lifts exactly 4,250 kilograms per hoist."
)
PDF_QUESTION = "How many kilograms does the Vantablue harbour crane lift per hoist?"


def standin_tag(image: str) -> str:
    return f"mmstack-standin/{image}:dev"


class StepFailedError(Exception):
    """A step failed: the message says what and why."""


class SkippedError(Exception):
    """The test cannot run here (no Docker engine)."""


# Output.

_T0 = time.monotonic()
_PAD = " " * 12


def say(text: str) -> None:
    for line in text.splitlines() or [""]:
        print(_PAD + line, flush=True)


@dataclass
class Step:
    message: str


@contextmanager
def step(message: str) -> Iterator[Step]:
    """One line per step, with its duration: `[  12.3 s] built the mmstack image`."""
    current = Step(message)
    started = time.monotonic()
    try:
        yield current
    except BaseException as exc:
        outcome = "SKIPPED" if isinstance(exc, SkippedError) else "FAILED"
        print(f"[{time.monotonic() - started:7.1f} s] {outcome}: {current.message}", flush=True)
        raise
    print(f"[{time.monotonic() - started:7.1f} s] {current.message}", flush=True)


def tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line for line in kept)


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


# Commands.


@dataclass
class Runner:
    env: dict[str, str]
    logs: Path | None = None

    def run(
        self,
        args: Sequence[str | Path],
        *,
        timeout: float,
        log: str | None = None,
        cwd: Path | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(a) for a in args]
        shown = shlex.join(argv)
        if len(shown) > 200:
            shown = shown[:200] + " ..."
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env=self.env if env is None else env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = _text(exc.stdout) + _text(exc.stderr)
            self._save(log, output)
            raise StepFailedError(
                f"`{shown}` did not finish within {timeout:.0f} s:\n{tail(output)}"
            ) from None
        self._save(log, done.stdout + done.stderr)
        if check and done.returncode != 0:
            where = f" (log: {self.logs / log}.log)" if log and self.logs else ""
            raise StepFailedError(
                f"`{shown}` failed (exit {done.returncode}){where}:\n"
                f"{tail(done.stdout + done.stderr)}"
            )
        return done

    def _save(self, log: str | None, output: str) -> None:
        if log and self.logs is not None:
            self.logs.mkdir(parents=True, exist_ok=True)
            (self.logs / f"{log}.log").write_text(output)


# The deployment.


@dataclass
class Deployment:
    runner: Runner
    workdir: Path
    strict: bool
    deploy_dir: Path = field(init=False)
    compose_file: Path = field(init=False)
    override_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    workarounds: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deploy_dir = self.workdir / "deploy"
        self.compose_file = self.deploy_dir / f"compose.{ENV}.yaml"

    def compose(self, *args: str) -> list[str]:
        files = ["-f", str(self.compose_file)]
        if self.override_file is not None:
            files += ["-f", str(self.override_file)]
        profiles = [arg for stack in STACKS for arg in ("--profile", stack)]
        return ["docker", "compose", *files, *profiles, *args]

    def override(self, service: str, settings: dict[str, Any]) -> None:
        """Adds `settings` for `service` to the compose override file (the generated file
        itself is left as it is, but for the image names)."""
        merged = self.overrides.setdefault(service, {})
        _merge(merged, settings)
        self.override_file = self.deploy_dir / "compose.smoke-host.yaml"
        header = (
            "# Written by scripts/deploy_smoke.py: what this host needs that the generated\n"
            "# compose file lacks (each a problem the smoke test reports).\n"
        )
        document = yaml.safe_dump({"services": self.overrides}, sort_keys=True)
        self.override_file.write_text(header + document)

    def problem(self, text: str, workaround: str) -> None:
        """A problem of the generated deployment: fatal with --strict, else worked around."""
        say(f"PROBLEM: {text}")
        if self.strict:
            raise StepFailedError(f"{text} (--strict: not worked around)")
        say(f"WORKAROUND: {workaround}")
        self.workarounds.append(f"{text}\n  -> {workaround}")

    def sql(self, query: str) -> list[list[str]]:
        args = ["psql", "-U", "mmstack", "-d", "mmstack", "-v", "ON_ERROR_STOP=1"]
        done = self.runner.run(
            self.compose("exec", "-T", "postgres", *args, "-At", "-F", "\t", "-c", query),
            timeout=60,
        )
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def containers(self) -> list[dict[str, Any]]:
        done = self.runner.run(self.compose("ps", "-a", "--format", "json"), timeout=60)
        text = done.stdout.strip()
        if text.startswith("["):
            listed: list[dict[str, Any]] = json.loads(text)
            return listed
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def diagnose(self) -> None:
        """`docker compose ps` and the last logs of every service not running healthy."""
        try:
            shown = self.runner.run(self.compose("ps", "-a"), timeout=60, check=False)
            say("docker compose ps -a:\n" + shown.stdout + shown.stderr)
            for container in self.containers():
                health = container.get("Health") or ""
                if container.get("State") == "running" and health in ("", "healthy"):
                    continue
                name = str(container.get("Name"))
                logs = self.runner.run(
                    ["docker", "logs", "--tail", "40", name], timeout=60, check=False
                )
                state = f"{container.get('State')} {health}".strip()
                say(f"--- {name} ({state}), last logs:\n{tail(logs.stdout + logs.stderr, 40)}")
        except StepFailedError as exc:
            say(f"(could not collect the diagnostics: {exc})")


def _merge(into: dict[str, Any], settings: dict[str, Any]) -> None:
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


# a. The engine.


def engine_env() -> dict[str, str]:
    done = subprocess.run(
        [str(ENGINE), "env"], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise SkippedError(f"`scripts/docker-engine env` failed: {done.stderr.strip()}")
    env = dict(os.environ)
    for line in done.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


def start_engine(runner: Runner) -> str:
    if os.geteuid() != 0:
        status = subprocess.run(
            [str(ENGINE), "status"], env=runner.env, capture_output=True, timeout=60, check=False
        )
        if status.returncode != 0:
            raise SkippedError("no Docker engine answers and starting one needs root")
    else:
        try:
            done = subprocess.run(
                [str(ENGINE), "start"],
                env=runner.env,
                capture_output=True,
                text=True,
                timeout=ENGINE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SkippedError(
                f"scripts/docker-engine start took over {ENGINE_TIMEOUT} s"
            ) from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise SkippedError(
                lines[-1] if lines else f"scripts/docker-engine start: {done.returncode}"
            )
    if shutil.which("docker") is None:
        raise SkippedError("the docker CLI is not installed")
    version = runner.run(
        ["docker", "info", "--format", "{{.ServerVersion}} {{.Driver}} {{.NCPU}} CPUs"],
        timeout=60,
        check=False,
    )
    if version.returncode != 0:
        raise SkippedError(f"the Docker engine does not answer: {version.stderr.strip()}")
    return version.stdout.strip()


# b, c. Images.


def image_size(runner: Runner, image: str) -> int:
    done = runner.run(["docker", "image", "inspect", "-f", "{{.Size}}", image], timeout=60)
    return int(done.stdout.strip())


def build_mmstack(runner: Runner, image: str, no_cache: bool) -> None:
    runner.run(
        [
            *("docker", "build", "--network", "host", *(["--no-cache"] if no_cache else [])),
            *("--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", image, str(REPO)),
        ],
        timeout=BUILD_TIMEOUT,
        log="build-mmstack",
    )


def build_standins(runner: Runner, mmstack_image: str, no_cache: bool) -> list[str]:
    """Builds every stand-in image; returns a line per image with its size."""
    mmstack_size = image_size(runner, mmstack_image)
    lines = []
    for name in sorted(set(STANDIN_OF.values())):
        dockerfile = STANDINS / "images" / name / "Dockerfile"
        tag = standin_tag(name)
        runner.run(
            [
                *("docker", "build", "--network", "host", *(["--no-cache"] if no_cache else [])),
                *("--build-arg", f"BASE_IMAGE={BASE_IMAGE}"),
                *("--build-arg", f"MMSTACK_IMAGE={mmstack_image}"),
                *("-t", tag, "-f", str(dockerfile), str(STANDINS)),
            ],
            timeout=BUILD_TIMEOUT,
            log=f"build-standin-{name}",
        )
        size = image_size(runner, tag)
        based = "FROM ${MMSTACK_IMAGE}" in dockerfile.read_text()
        extra = f" ({(size - mmstack_size) / 1e3:.0f} kB over the mmstack image)" if based else ""
        lines.append(f"{tag}: {size / 1e6:.0f} MB{extra}")
    return lines


# d. Generating the deployment.


def generate(deployment: Deployment) -> None:
    runner, workdir = deployment.runner, deployment.workdir
    mmstack = Path(sys.executable).with_name("mmstack")
    if not mmstack.exists():
        raise StepFailedError(f"no mmstack CLI next to {sys.executable}")
    # The user's own copy of the packaged stack file (OPERATIONS.md): the secrets store is
    # kept next to it, in the work dir. Settings come from the stack file, not from here.
    shutil.copyfile(PACKAGED_STACK, workdir / "stack.yaml")
    env = {k: v for k, v in runner.env.items() if not k.startswith("MMSTACK_")}
    out = str(deployment.deploy_dir)
    stacks = [arg for stack in STACKS for arg in ("--stack", stack)]
    commands = [
        ["secrets", "init", "--env", ENV],
        ["deploy", "compose", "--env", ENV, *stacks, "--source", str(REPO), "--out", out],
        ["secrets", "render", "--env", ENV, "--format", "compose", "--out", out],
    ]
    for n, command in enumerate(commands):
        runner.run([mmstack, *command], timeout=120, cwd=workdir, env=env, log=f"mmstack-{n}")
        say("mmstack " + shlex.join(command))
    if not deployment.compose_file.exists():
        raise StepFailedError(f"`mmstack deploy compose` wrote no {deployment.compose_file}")


def substitute_images(deployment: Deployment) -> dict[str, str]:
    """Replaces the third-party services' image names in the generated compose file by the
    stand-ins' tags, and nothing else; returns the services' original images."""
    path = deployment.compose_file
    text = path.read_text()
    before = yaml.safe_load(text)
    services: dict[str, Any] = before["services"]
    unknown = sorted(set(services) - set(STANDIN_OF) - set(MMSTACK_SERVICES))
    if unknown:
        listed = ", ".join(f"{s} ({services[s].get('image')})" for s in unknown)
        raise StepFailedError(f"no stand-in for {listed}: add one under tests/standins/images")
    missing = sorted(set(STANDIN_OF) - set(services))
    if missing:
        raise StepFailedError(f"the generated compose file lacks {', '.join(missing)}")
    lines = text.splitlines(keepends=True)
    in_services, current, replaced = False, None, {}
    for n, line in enumerate(lines):
        if not line.startswith(" "):
            in_services = line.rstrip() == "services:"
            continue
        if in_services and (found := re.fullmatch(r"  ([^\s:#][^:]*):\s*", line)):
            current = found.group(1)
        elif in_services and current in STANDIN_OF:
            image = re.fullmatch(r"    image: (\S+)\s*", line)
            if image:
                tag = standin_tag(STANDIN_OF[current])
                replaced[current] = image.group(1)
                lines[n] = f"    image: {tag}\n"
    after = yaml.safe_load("".join(lines))
    for name, original in replaced.items():
        if before["services"][name]["image"] != original:
            raise StepFailedError(f"{name}'s image line is not its image ({original})")
        before["services"][name]["image"] = standin_tag(STANDIN_OF[name])
    if before != after or set(replaced) != set(STANDIN_OF):
        raise StepFailedError("substituting the image names changed more than them")
    path.write_text("".join(lines))
    return replaced


def _can_read(mode: int, owner: int, group: int, uid: int, gid: int) -> bool:
    if uid == 0:
        return True
    if owner == uid:
        return bool(mode & stat.S_IRUSR)
    if group == gid:
        return bool(mode & stat.S_IRGRP)
    return bool(mode & stat.S_IROTH)


def check_secret_files(deployment: Deployment) -> None:
    """Compose bind-mounts each `secrets:` file as it is: a service's user must be able to
    read it (the compose spec's uid/gid/mode are ignored for file secrets)."""
    document = yaml.safe_load(deployment.compose_file.read_text())
    unreadable: dict[Path, list[str]] = {}
    for name, service in document["services"].items():
        user = str(service.get("user", "0"))
        uid, _, gid = user.partition(":")
        for secret in service.get("secrets", []):
            source = secret if isinstance(secret, str) else secret["source"]
            path = (deployment.deploy_dir / document["secrets"][source]["file"]).resolve()
            if not path.exists():
                raise StepFailedError(f"the secret file {path} was not rendered")
            info = path.stat()
            if not _can_read(info.st_mode, info.st_uid, info.st_gid, int(uid), int(gid or uid)):
                unreadable.setdefault(path, []).append(f"{name} ({user})")
    if not unreadable:
        say("every service can read its secret files")
        return
    sample = next(iter(unreadable))
    info = sample.stat()
    users = sorted({u for users in unreadable.values() for u in users})
    deployment.problem(
        f"`mmstack secrets render --format compose` writes the secret files "
        f"{stat.filemode(info.st_mode)} (owner uid {info.st_uid}), and compose bind-mounts them "
        f"as they are into /run/secrets: {len(unreadable)} of them cannot be read by the "
        f"non-root users of the services using them: {', '.join(users)}",
        f"chmod 0644 those {len(unreadable)} files (their directory "
        f"{sample.parent.name}/ stays {stat.filemode(sample.parent.stat().st_mode)})",
    )
    for path in unreadable:
        path.chmod(0o644)


def fit_cpu_limits(deployment: Deployment, host_cpus: int) -> None:
    """Docker refuses a container whose CPU limit exceeds the host's CPUs."""
    document = yaml.safe_load(deployment.compose_file.read_text())
    over: dict[str, float] = {}
    for name, service in document["services"].items():
        cpus = (((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get(
            "cpus"
        )
        if cpus is not None and float(cpus) > host_cpus:
            over[name] = float(cpus)
    if not over:
        return
    listed = ", ".join(f"{name} {cpus:g}" for name, cpus in sorted(over.items()))
    deployment.problem(
        f"the {ENV} CPU limits exceed this host's {host_cpus} CPUs ({listed}): Docker refuses "
        f'to create such a container ("Range of CPUs is from 0.01 to {host_cpus}.00")',
        f"a compose override file lowering those limits to {host_cpus}",
    )
    for name in over:
        limits = {"cpus": str(float(host_cpus))}
        deployment.override(name, {"deploy": {"resources": {"limits": limits}}})


def check_ports_free(ports: Sequence[int]) -> None:
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise StepFailedError(
                    f"127.0.0.1:{port} is taken by another process: the generated compose file "
                    f"publishes the API replicas on 127.0.0.1:{ports[0]}-{ports[-1]}"
                )


# e. Up.


def compose_up(deployment: Deployment) -> list[str]:
    """`up -d --wait` from empty volumes, as a user starts the deployment. When that fails
    for a known problem of the generated deployment, the problem is reported and the start
    is made again, from empty volumes, with the problem worked around."""
    runner = deployment.runner
    runner.run(deployment.compose("down", "-v", "--remove-orphans"), timeout=300, log="down-0")
    document = yaml.safe_load(deployment.compose_file.read_text())
    replicas = int(document["services"]["api"].get("deploy", {}).get("replicas", 1))
    check_ports_free([API_PORT + n for n in range(replicas)])
    up = ["up", "-d", "--wait", "--wait-timeout", str(UP_TIMEOUT), "--no-build", "--pull", "never"]
    try:
        runner.run(deployment.compose(*up), timeout=UP_TIMEOUT + 120, log="compose-up")
    except StepFailedError as exc:
        say(f"the first start failed: {str(exc).splitlines()[-1].strip()}")
        deployment.diagnose()
        race, slow = known_start_problems(deployment)
        if not (race or slow):
            raise
        runner.run(deployment.compose("down", "-v"), timeout=300, log="down-1")
        if race:
            first = ["--scale", "api=1", "--scale", "worker=0"]
            runner.run(
                deployment.compose(*up, *first), timeout=UP_TIMEOUT + 120, log="compose-up-1"
            )
        runner.run(deployment.compose(*up), timeout=UP_TIMEOUT + 120, log="compose-up-2")
    states = []
    for container in deployment.containers():
        health = container.get("Health") or "no health check"
        name = str(container.get("Name"))
        restarts = runner.run(
            ["docker", "inspect", "-f", "{{.RestartCount}}", name], timeout=60
        ).stdout.strip()
        again = f", restarted {restarts} times" if restarts not in ("", "0") else ""
        if again and container.get("Service") in MMSTACK_SERVICES:
            logs = runner.run(["docker", "logs", name], timeout=60, check=False)
            signs = [m.group(0) for r in RACE_SIGNS if (m := r.search(logs.stdout + logs.stderr))]
            if signs:
                deployment.findings.append(
                    f"{name} failed at the first start and was restarted ({'; '.join(signs)}): "
                    "mmstack's processes race on the empty database (migrations, first admin, "
                    "service user)"
                )
        states.append(f"{container.get('Service')}: {container.get('State')}, {health}{again}")
        if container.get("Service") != "api":
            for published in container.get("Publishers") or []:
                if published.get("PublishedPort"):
                    deployment.findings.append(
                        f"{name} publishes {published.get('TargetPort')} on "
                        f"{published.get('URL')}:{published.get('PublishedPort')} (a backend "
                        "service should publish nothing)"
                    )
    return sorted(states)


RACE_SIGNS = (
    re.compile(r"UniqueViolation|duplicate key value"),
    re.compile(r"(user|team) '[^']+' already exists"),
    re.compile(r"DuplicateTable|DuplicateObject"),
)


def known_start_problems(deployment: Deployment) -> tuple[bool, bool]:
    """Reports the known problems a failed first start shows (adding their workarounds to
    the override file): whether mmstack's processes raced at the first start, and whether
    health checks took longer than their timeout."""
    runner = deployment.runner
    crashed: dict[str, str] = {}
    slow_checks: dict[str, int] = {}
    for container in deployment.containers():
        service, name = str(container.get("Service")), str(container.get("Name"))
        if service not in MMSTACK_SERVICES:
            continue
        logs = runner.run(["docker", "logs", name], timeout=60, check=False)
        output = logs.stdout + logs.stderr
        for sign in RACE_SIGNS:
            if found := sign.search(output):
                crashed[name] = found.group(0)
                break
        health = runner.run(
            ["docker", "inspect", "-f", "{{json .State.Health}}", name], timeout=60, check=False
        ).stdout.strip()
        timeouts = health.count("Health check exceeded timeout")
        if timeouts:
            slow_checks[service] = slow_checks.get(service, 0) + timeouts
    if crashed:
        signs = sorted(set(crashed.values()))
        deployment.problem(
            f"{len(crashed)} mmstack containers failed at the first start, all starting at "
            f"once on the empty database ({', '.join(sorted(crashed))}): {'; '.join(signs)}. "
            "The processes race to run the migrations and to make the first admin and the "
            "service user; restarted, they recover, but `up --wait` has failed by then",
            "start again from empty volumes in two steps: one api replica and no worker "
            "(`up --wait --scale api=1 --scale worker=0`), then every replica",
        )
    if slow_checks:
        document = yaml.safe_load(deployment.compose_file.read_text())
        for service, count in sorted(slow_checks.items()):
            check = document["services"][service]["healthcheck"]
            took = _time_check(deployment, service, check["test"])
            deployment.problem(
                f"the health check of {service} ({' '.join(check['test'][1:])}) exceeded its "
                f"{check['timeout']} timeout {count} times while the deployment started "
                f"(it took {took} once started)",
                f"the override file gives {service}'s health check a 30s timeout and a "
                "60s start period",
            )
            deployment.override(service, {"healthcheck": {"timeout": "30s", "start_period": "60s"}})
    return bool(crashed), bool(slow_checks)


def _time_check(deployment: Deployment, service: str, test: list[str]) -> str:
    if not test or test[0] != "CMD":
        return "?"
    ids = [c["ID"] for c in deployment.containers() if c.get("Service") == service]
    running = [c for c in ids if c]
    if not running:
        return "?"
    started = time.monotonic()
    done = deployment.runner.run(
        ["docker", "exec", str(running[0]), *test[1:]], timeout=120, check=False
    )
    return f"{time.monotonic() - started:.1f} s, exit {done.returncode}"


# f. The API, from the host.


@dataclass
class Api:
    bases: list[str]
    token: str = ""

    def call(
        self,
        method: str,
        path: str,
        *,
        replica: int = 0,
        expect: Sequence[int] = (200, 201),
        token: str | None = None,
        timeout: float = 120,
        **kwargs: Any,
    ) -> httpx.Response:
        base = self.bases[replica % len(self.bases)]
        bearer = self.token if token is None else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        try:
            response = httpx.request(
                method, base + path, headers=headers, timeout=timeout, **kwargs
            )
        except httpx.HTTPError as exc:
            raise StepFailedError(f"{method} {base}{path}: {exc!r}") from None
        if response.status_code not in expect:
            raise StepFailedError(
                f"{method} {base}{path}: {response.status_code} {response.text[:800]}"
            )
        return response

    def wait_completed(
        self, collection: str, count: int, timeout: float, replica: int = 0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            files = self.call("GET", f"/api/collections/{collection}/files", replica=replica)
            listed: list[dict[str, Any]] = files.json()["data"]
            failed = [f for f in listed if f["status"] == "failed"]
            if failed:
                raise StepFailedError(
                    f"ingestion failed in {collection}: "
                    + "; ".join(f"{f.get('filename')}: {f.get('last_error')}" for f in failed)
                )
            done = [f for f in listed if f["status"] == "completed"]
            if len(done) >= count:
                return done
            if time.monotonic() > deadline:
                raise StepFailedError(
                    f"{len(done)} of {count} files of {collection} completed after {timeout} s"
                )
            time.sleep(1)


def api_bases(deployment: Deployment) -> list[str]:
    document = yaml.safe_load(deployment.compose_file.read_text())
    replicas = int(document["services"]["api"].get("deploy", {}).get("replicas", 1))
    bases = []
    for index in range(1, replicas + 1):
        done = deployment.runner.run(
            deployment.compose("port", "--index", str(index), "api", str(API_PORT)), timeout=60
        )
        address = done.stdout.strip().splitlines()[-1]
        bases.append(f"http://{address}")
    return bases


def make_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    paragraphs = [
        f"{PDF_SENTENCE} The crane was commissioned by the Ostrander port authority in 1987 "
        "and has been inspected every spring since.",
        "Operators must hold a class C lifting licence. Wind speeds above 18 metres per "
        "second stop all lifting until the anemometer reads lower for ten minutes.",
        "Maintenance logs are kept in the harbour master's office, next to the tide tables.",
    ]
    for paragraph in paragraphs:
        pdf.multi_cell(0, 7, paragraph)
        pdf.ln(4)
    return bytes(pdf.output())


def sse_events(body: str) -> list[dict[str, Any]]:
    events = []
    for line in body.splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            events.append(json.loads(line[6:]))
    return events


def check_answer(text: str, annotations: list[Any], file_id: str, how: str) -> None:
    if "4,250 kilograms" not in text or "[1]" not in text:
        raise StepFailedError(f"the {how} answer does not give the PDF's fact with [1]: {text!r}")
    cited = json.dumps(annotations)
    if file_id not in cited or PDF_NAME not in cited:
        raise StepFailedError(
            f"the {how} answer's annotations do not cite {PDF_NAME}: {cited[:800]}"
        )
    if PDF_NAME not in text.rpartition("Sources:")[2]:
        raise StepFailedError(f"the {how} answer does not end with its sources: {text!r}")


def api_round_trip(deployment: Deployment, api: Api, suffix: str) -> list[str]:
    """Login, key, collection, PDF, search, knowledge model; returns detail lines."""
    lines = []
    replicas = range(len(api.bases))
    ready = [api.call("GET", "/readyz", replica=n, token="").status_code for n in replicas]
    lines.append(f"/readyz on {', '.join(api.bases)}: {ready}")
    password = (deployment.deploy_dir / "secrets" / "mmstack-admin-password").read_text().strip()
    login = api.call(
        "POST", "/api/auth/login", json={"username": ADMIN, "password": password}, token=""
    )
    access = login.json()["access_token"]
    made = api.call(
        "POST",
        "/api/keys",
        replica=1,
        token=access,
        json={"name": f"deploy-smoke-{suffix}", "access": "write"},
    ).json()
    api.token = made["key"]
    lines.append(f"logged in as {ADMIN}; API key {made['key'][:12]}... made (replica 2)")

    collection = f"smoke-{suffix}"
    api.call("POST", "/api/collections", replica=2, json={"name": collection})
    sent = api.call(
        "POST",
        f"/api/collections/{collection}/files",
        replica=0,
        files=[("files", (PDF_NAME, make_pdf(), "application/pdf"))],
    ).json()
    entries = sent["data"] if isinstance(sent, dict) and "data" in sent else sent
    file_id = entries[0]["id"]
    started = time.monotonic()
    done = api.wait_completed(collection, 1, INGEST_TIMEOUT, replica=1)
    lines.append(
        f"collection {collection}: {PDF_NAME} completed in {time.monotonic() - started:.1f} s "
        f"({done[0].get('chunk_count')} chunks)"
    )

    hits = api.call(
        "POST",
        "/api/search",
        replica=2,
        json={"query": "Vantablue crane hoist kilograms", "collections": [collection]},
    ).json()["data"]
    if not hits or hits[0]["filename"] != PDF_NAME or "4,250" not in hits[0]["text"]:
        raise StepFailedError(
            f"the search does not find the PDF's sentence: {json.dumps(hits)[:800]}"
        )
    lines.append(f"search: {PDF_NAME} first (score {hits[0]['score']:.4g}, of {len(hits)})")

    model = f"kb/{collection}"
    models = [m["id"] for m in api.call("GET", "/v1/models").json()["data"]]
    if model not in models:
        raise StepFailedError(f"{model} is not among the models: {models}")
    question = {"model": model, "messages": [{"role": "user", "content": PDF_QUESTION}]}
    whole = api.call("POST", "/v1/chat/completions", replica=0, json=question).json()
    message = whole["choices"][0]["message"]
    check_answer(message["content"] or "", message.get("annotations") or [], file_id, "whole")
    if whole.get("model") != model:
        raise StepFailedError(f"the answer's model is {whole.get('model')!r}, not {model!r}")
    lines.append(f"{model} answered: {message['content']!r}")

    streamed = api.call(
        "POST", "/v1/chat/completions", replica=1, json={**question, "stream": True}
    )
    text: list[str] = []
    annotations: list[Any] = []
    for event in sse_events(streamed.text):
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text.append(delta.get("content") or "")
            annotations += delta.get("annotations") or []
    check_answer("".join(text), annotations, file_id, "streamed")
    kinds = sorted({str(a.get("type")) for a in annotations if isinstance(a, dict)})
    lines.append(f"streamed too (replica 2): {len(annotations)} annotations ({', '.join(kinds)})")
    return lines


# g. A worker killed during a batch.


def batch_document(n: int, marker: str) -> bytes:
    words = ["harbour", "copper", "meadow", "signal", "quartz", "ember", "violet", "saddle"]
    paragraphs = []
    for p in range(30):
        body = " ".join(words[(n + p + i) % len(words)] for i in range(60))
        paragraphs.append(f"Paragraph {p} of file {n}. {body.capitalize()}.")
    paragraphs.append(f"The file's marker is {marker}.")
    return "\n\n".join(paragraphs).encode()


def kill_during_batch(deployment: Deployment, api: Api, suffix: str) -> list[str]:
    lines = []
    collection = f"smoke-batch-{suffix}"
    api.call("POST", "/api/collections", json={"name": collection})
    markers = {f"batch{n:02d}.txt": f"zq{suffix}{n:02d}xv" for n in range(BATCH_FILES)}
    files = [
        ("files", (name, batch_document(n, marker), "text/plain"))
        for n, (name, marker) in enumerate(markers.items())
    ]
    workers = [c for c in deployment.containers() if c.get("Service") == "worker"]
    ids = {str(c["ID"]): str(c["Name"]) for c in workers}
    api.call("POST", f"/api/collections/{collection}/files", replica=1, files=files)
    running_sql = (
        "SELECT DISTINCT j.worker FROM jobs j JOIN collection_files cf ON cf.id = "
        "j.collection_file_id JOIN collections co ON co.id = cf.collection_id WHERE "
        f"co.name = '{collection}' AND j.status = 'running'"
    )
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        for (worker,) in deployment.sql(running_sql):
            host = worker.partition(":")[0]
            victim = next((cid for cid in ids if cid.startswith(host)), None)
            if victim is not None:
                break
        else:
            completed = api.call(
                "GET", f"/api/collections/{collection}/files", params={"status": "completed"}
            ).json()["data"]
            if len(completed) == BATCH_FILES:
                raise StepFailedError("the batch was ingested before a worker could be killed")
            time.sleep(0.2)
    if victim is None:
        raise StepFailedError("no worker took the batch's jobs within 120 s")
    deployment.runner.run(["docker", "kill", "-s", "KILL", victim], timeout=60)
    killed_at = time.monotonic()
    lines.append(
        f"uploaded {BATCH_FILES} files; killed {ids[victim]} (SIGKILL) while it ran some of "
        "their jobs"
    )
    api.wait_completed(collection, BATCH_FILES, INGEST_TIMEOUT)
    lines.append(
        f"all {BATCH_FILES} completed {time.monotonic() - killed_at:.1f} s after the kill "
        "(the jobs' leases expired, another worker took them)"
    )

    per_file = deployment.sql(
        "SELECT f.filename, cf.status, cf.chunk_count, COUNT(c.id), COUNT(DISTINCT c.seq), "
        "COALESCE(MIN(c.seq), -1), COALESCE(MAX(c.seq), -1) FROM collection_files cf "
        "JOIN files f ON f.id = cf.file_id JOIN collections co ON co.id = cf.collection_id "
        "LEFT JOIN chunks c ON c.collection_file_id = cf.id "
        f"WHERE co.name = '{collection}' GROUP BY cf.id, f.filename, cf.status, cf.chunk_count"
    )
    if len(per_file) != BATCH_FILES:
        raise StepFailedError(f"{len(per_file)} files in {collection}, not {BATCH_FILES}")
    for name, status, expected, count, distinct, first, last in per_file:
        once = int(expected) > 0 and int(expected) == int(count) == int(distinct)
        if status != "completed" or not once or int(first) != 0 or int(last) != int(count) - 1:
            raise StepFailedError(
                f"{name}: status {status}, chunk_count {expected}, {count} chunk rows, "
                f"{distinct} distinct seq, seq {first}..{last}: not exactly once"
            )
    jobs = deployment.sql(
        "SELECT j.status, COUNT(*), SUM(CASE WHEN j.attempts > 1 THEN 1 ELSE 0 END) FROM jobs j "
        "JOIN collection_files cf ON cf.id = j.collection_file_id JOIN collections co ON "
        f"co.id = cf.collection_id WHERE co.name = '{collection}' GROUP BY j.status"
    )
    statuses = {status: int(count) for status, count, _ in jobs}
    retried = sum(int(r or 0) for _, _, r in jobs)
    if set(statuses) != {"succeeded"}:
        raise StepFailedError(f"the batch's jobs are not all succeeded: {statuses}")
    if retried < 1:
        raise StepFailedError("no job of the killed worker was taken over (attempts > 1)")
    chunks = sum(int(row[3]) for row in per_file)
    lines.append(
        f"each file exactly once: {chunks} chunk rows = the files' chunk_count, seq 0..n-1 "
        f"once each; {statuses['succeeded']} jobs succeeded, {retried} of them taken over "
        "from the killed worker (a second attempt)"
    )

    chunk_ids = sorted(int(row[0]) for row in deployment.sql("SELECT id FROM chunks"))
    points = deployment.runner.run(
        deployment.compose("exec", "-T", "qdrant", "python", "-c", QDRANT_POINT_IDS), timeout=120
    )
    point_ids = sorted(int(p) for p in json.loads(points.stdout))
    if point_ids != chunk_ids:
        extra = sorted(set(point_ids) - set(chunk_ids))[:10]
        lacking = sorted(set(chunk_ids) - set(point_ids))[:10]
        raise StepFailedError(
            f"the vector index holds {len(point_ids)} points for {len(chunk_ids)} chunks "
            f"(extra {extra}, missing {lacking})"
        )
    lines.append(f"the vector index holds exactly the {len(chunk_ids)} chunks' ids")

    for name, marker in markers.items():
        hits = api.call(
            "POST",
            "/api/search",
            replica=2,
            json={"query": marker, "mode": "keyword", "top_k": 2, "collections": [collection]},
        ).json()["data"]
        if [hit["filename"] for hit in hits[:1]] != [name]:
            raise StepFailedError(f"a keyword search for {marker} does not find {name}: {hits[:2]}")
    lines.append(f"each file's marker finds it (keyword search, {BATCH_FILES} queries)")

    deployment.runner.run(["docker", "start", victim], timeout=60)
    deadline = time.monotonic() + 180
    while True:
        state = deployment.runner.run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", victim], timeout=60
        ).stdout.strip()
        if state == "healthy":
            break
        if time.monotonic() > deadline:
            raise StepFailedError(f"the killed worker, started again, is {state} after 180 s")
        time.sleep(2)
    lines.append(f"{ids[victim]} started again: healthy")
    return lines


QDRANT_POINT_IDS = """
import json, urllib.request
key = open("/run/secrets/qdrant-api-key").read().strip()
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"api-key": key, "content-type": "application/json"}
    request = urllib.request.Request("http://127.0.0.1:6333" + path, data, headers, method=method)
    return json.load(urllib.request.urlopen(request, timeout=60))["result"]
ids = []
for collection in call("GET", "/collections")["collections"]:
    offset = None
    while True:
        body = {"limit": 1000, "with_payload": False, "with_vector": False}
        if offset is not None:
            body["offset"] = offset
        page = call("POST", "/collections/%s/points/scroll" % collection["name"], body)
        ids += [point["id"] for point in page["points"]]
        offset = page.get("next_page_offset")
        if offset is None:
            break
print(json.dumps(ids))
"""


# The whole run.


def backup_in_worker(deployment: Deployment) -> list[str]:
    """A backup as an operator takes one (`docker compose exec worker mmstack backup ...`):
    PostgreSQL dumped, Qdrant's vectors and MinIO's blobs copied into the restic repository
    on the backups volume, then read back and checked; and the worker's scheduled backup
    (production: daily, the first at start) is in the repository too."""

    def mmstack(*args: str, timeout: float = 900) -> Any:
        command = deployment.compose("exec", "-T", "worker", "mmstack", *args, "--json")
        done = deployment.runner.run(command, timeout=timeout, log="backup-" + args[1])
        return json.loads(done.stdout)

    created = mmstack("backup", "create")
    if not (created["files"] >= 1 and created["vectors"] >= 1 and created["blobs"] >= 1):
        raise StepFailedError(f"the backup holds no ingested file: {created}")
    if created["blobs_missing"]:
        raise StepFailedError(f"the backup misses {created['blobs_missing']} blobs")
    verified = mmstack("backup", "verify", created["id"])
    if not verified["ok"]:
        raise StepFailedError(f"the backup does not verify: {verified['problems']}")
    listed = mmstack("backup", "list", timeout=120)
    complete = [b["id"] for b in listed if b["complete"]]
    if created["id"] not in complete or len(complete) < 2:
        raise StepFailedError(f"expected the scheduled backup and this one, found {listed}")
    return [
        f"backup {created['id']}: {created['files']} files, {created['chunks']} chunks, "
        f"{created['vectors']} vectors, {created['blobs']} blobs ({created['blob_bytes']:,} "
        f"bytes), {created['bytes_added']:,} bytes written in {created['seconds']} s; "
        f"verified; {len(complete)} complete backups in the repository"
    ]


def wipe_volumes(deployment: Deployment) -> list[str]:
    """`mmstack wipe all --env ENV` on the stopped deployment: its data volumes go, its
    backups volume and another project's volume of the same name stay."""
    runner = deployment.runner
    runner.run(deployment.compose("down"), timeout=300, log="down")
    other = "other-app_postgres-data"
    runner.run(
        [
            "docker",
            "volume",
            "create",
            "--label",
            "com.docker.compose.project=other-app",
            "--label",
            "com.docker.compose.volume=postgres-data",
            other,
        ],
        timeout=60,
    )
    try:
        done = runner.run(
            [sys.executable, "-m", "mmstack", "wipe", "all", "--env", ENV, "--yes", "--json"],
            timeout=300,
            log="wipe",
        )
        wiped = {item["deleted"].split()[2] for item in json.loads(done.stdout)}
        listed = runner.run(["docker", "volume", "ls", "--format", "{{.Name}}"], timeout=60)
        left = set(listed.stdout.split())
    finally:
        runner.run(["docker", "volume", "rm", "-f", other], timeout=60, check=False)
    project = f"mmstack-{ENV}"
    expected = {f"{project}_{name}" for name in ("postgres-data", "qdrant-data", "minio-data")}
    if not expected <= wiped or wiped & left:
        raise StepFailedError(f"wiped {sorted(wiped)}; still there: {sorted(wiped & left)}")
    if f"{project}_backups" not in left or other not in left:
        raise StepFailedError(f"the backups or another project's volume went: {sorted(left)}")
    return [f"wiped {len(wiped)} volumes: {', '.join(sorted(wiped))}; kept {project}_backups"]


def run(args: argparse.Namespace) -> int:
    made_workdir = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="mmstack-deploy-smoke-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    runner = Runner(engine_env(), workdir / "logs")
    deployment = Deployment(runner, workdir, args.strict)
    print(f"work dir: {workdir} (logs in {runner.logs})", flush=True)
    started_up = False
    passed = False
    try:
        with step("started the Docker engine (scripts/docker-engine start)") as current:
            current.message += ": " + start_engine(runner)
        stack = yaml.safe_load(PACKAGED_STACK.read_text())
        mmstack_image = str(stack["services"]["api"]["image"])
        with step(f"built the mmstack image {mmstack_image}") as current:
            build_mmstack(runner, mmstack_image, args.no_cache)
            current.message += f" ({image_size(runner, mmstack_image) / 1e6:.0f} MB)"
        with step("built the stand-in images"):
            sizes = build_standins(runner, mmstack_image, args.no_cache)
        for line in sizes:
            say(line)
        with step(f"generated the deployment ({ENV}, stacks {', '.join(STACKS)})"):
            generate(deployment)
            replaced = substitute_images(deployment)
            for name, original in sorted(replaced.items()):
                say(f"image of {name}: {original} -> {standin_tag(STANDIN_OF[name])}")
            check_secret_files(deployment)
            cpus = int(runner.run(["docker", "info", "-f", "{{.NCPU}}"], timeout=60).stdout)
            fit_cpu_limits(deployment, cpus)
        with step("docker compose up -d --wait: every service healthy") as current:
            started_up = True
            states = compose_up(deployment)
            current.message += f" ({len(states)} containers)"
        for line in states:
            say(line)
        suffix = secrets.token_hex(3)
        api = Api(api_bases(deployment))
        with step("API round trip from the host: login, key, PDF, search, cited answer"):
            lines = api_round_trip(deployment, api, suffix)
        for line in lines:
            say(line)
        with step(f"killed a worker while {BATCH_FILES} files were ingested: each once"):
            lines = kill_during_batch(deployment, api, suffix)
        for line in lines:
            say(line)
        with step("backup in a worker: pg_dump, Qdrant vectors, MinIO blobs, verified"):
            lines = backup_in_worker(deployment)
        for line in lines:
            say(line)
        if not args.keep:
            with step(f"mmstack wipe all --env {ENV}: only this deployment's data volumes"):
                lines = wipe_volumes(deployment)
            for line in lines:
                say(line)
        passed = True
    except SkippedError as exc:
        print(f"SKIP: {exc}", flush=True)
        if made_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        return SKIP_STATUS
    except StepFailedError as exc:
        print(f"FAILED: {exc}", flush=True)
        if started_up:
            deployment.diagnose()
    finally:
        if started_up and not args.keep:
            with step("docker compose down -v"):
                runner.run(deployment.compose("down", "-v", "--remove-orphans"), timeout=300)
        elif started_up:
            shown = shlex.join(deployment.compose("down", "-v"))
            say(f"kept the deployment: DOCKER_HOST={runner.env.get('DOCKER_HOST')} {shown}")
    for text in deployment.workarounds:
        say("worked around (to fix in mmstack): " + text)
    for text in deployment.findings:
        say("finding: " + text)
    total = time.monotonic() - _T0
    if passed:
        print(f"PASSED in {total:.1f} s", flush=True)
        if made_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    print(f"FAILED after {total:.1f} s (work dir kept: {workdir})", flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--keep", action="store_true", help="leave the deployment running and the work dir"
    )
    parser.add_argument("--workdir", type=Path, help="where to generate (default: a temp dir)")
    parser.add_argument(
        "--strict", action="store_true", help="fail on a problem rather than work around it"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="build every image without the build cache"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
