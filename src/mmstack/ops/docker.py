"""Running `docker compose` on a generated compose file, where a Docker engine exists."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmstack.errors import MMStackError


class DockerUnavailableError(MMStackError):
    code = "docker_unavailable"


def compose_command() -> list[str]:
    """`docker compose` (the plugin) or `docker-compose` (v2), whichever is installed."""
    docker = shutil.which("docker")
    if docker is not None:
        plugin = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if plugin.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is not None:
        return [standalone]
    raise DockerUnavailableError(
        "docker compose is not installed: install Docker Engine with the compose plugin "
        "(https://docs.docker.com/engine/install/), or deploy to Kubernetes with "
        "`mmstack deploy helm`"
    )


def engine_running() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    info = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    return info.returncode == 0


@dataclass(frozen=True)
class ComposeProject:
    compose_file: Path
    profiles: Sequence[str]

    def run(self, action: str, *args: str) -> int:
        """Run `docker compose <action>` on the project; returns its exit status."""
        command = compose_command()
        if not engine_running():
            raise DockerUnavailableError(
                "no Docker engine answers here (`docker info` fails): start it "
                "(systemctl start docker) or run this where Docker runs; the compose file "
                f"is at {self.compose_file}"
            )
        profiles = [arg for p in self.profiles for arg in ("--profile", p)]
        full = [*command, "-f", str(self.compose_file), *profiles, action, *args]
        return subprocess.run(full, check=False).returncode
