"""A compose deployment's Docker volumes, by the stack file's `holds`: what `mmstack wipe
<kind> --env ENV` removes. Only volumes Docker labels as the deployment's own project
(`<project>-<env>`) and as one of the stack file's volumes are considered: other projects'
volumes, and anything not made by this deployment, are never listed."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from mmstack.errors import InvalidRequestError
from mmstack.ops.docker import DockerUnavailableError
from mmstack.ops.stack_file import StackFile
from mmstack.ops.wipe import WipeItem, expand

PROJECT_LABEL = "com.docker.compose.project"
VOLUME_LABEL = "com.docker.compose.volume"


@dataclass(frozen=True, slots=True)
class DockerVolume:
    name: str  # Docker's name, <project>_<volume>
    volume: str  # the stack file's name


class DockerVolumes:
    """The Docker engine's volumes (the `docker` program on PATH, DOCKER_HOST honoured)."""

    def of_project(self, project: str) -> list[DockerVolume]:
        listed = self._docker(
            "volume",
            "ls",
            "--filter",
            f"label={PROJECT_LABEL}={project}",
            "--format",
            f'{{{{.Name}}}}\\t{{{{.Label "{VOLUME_LABEL}"}}}}',
        )
        found = (line.split("\t") for line in listed.splitlines() if line.strip())
        return [DockerVolume(name, volume) for name, volume in found]

    def users(self, name: str) -> list[str]:
        """The containers (running or stopped) that mount the volume."""
        listed = self._docker("ps", "-a", "--filter", f"volume={name}", "--format", "{{.Names}}")
        return listed.split()

    def remove(self, name: str) -> None:
        self._docker("volume", "rm", name)

    def _docker(self, *args: str) -> str:
        try:
            done = subprocess.run(
                ["docker", *args], capture_output=True, text=True, check=False, timeout=120
            )
        except FileNotFoundError:
            raise DockerUnavailableError("docker is not installed here") from None
        if done.returncode != 0:
            raise DockerUnavailableError(f"docker {args[0]} {args[1]}: {done.stderr.strip()}")
        return done.stdout


def plan_volume_wipe(
    stack: StackFile, env: str, targets: Sequence[str], docker: DockerVolumes
) -> list[WipeItem]:
    """The volumes of `env`'s compose deployment holding the kinds in `targets`; refused
    while a container still mounts one (stop the deployment first)."""
    stack.environment(env)
    kinds = expand(targets)
    project = f"{stack.project}-{env}"
    items: list[WipeItem] = []
    for volume in docker.of_project(project):
        spec = stack.volumes.get(volume.volume)
        if spec is None or spec.holds not in kinds:
            continue
        if users := docker.users(volume.name):
            raise InvalidRequestError(
                f"volume {volume.name} is in use by {', '.join(users)}: stop the deployment "
                f"first (docker compose -p {project} down, without -v)"
            )
        items.append(
            WipeItem(
                spec.holds,
                f"docker volume {volume.name} ({volume.volume})",
                None,
                partial(docker.remove, volume.name),
            )
        )
    return items
