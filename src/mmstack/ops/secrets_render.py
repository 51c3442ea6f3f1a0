"""The current secrets written where a deployment reads them: a `.env` file, one file per
secret for compose's `secrets:` (`./secrets/<name>`), or Kubernetes Secret manifests.
Every file is 0600 and replaced atomically.

Beside them, for compose and Kubernetes, Prometheus alert rules that fire when a secret's
current version passes its rotation age: only the store knows when each was issued, and
rendering is when a version reaches the deployment."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal, get_args

import yaml

from mmstack.ops.secrets_store import SecretsError, SecretsStore, ensure_private_dir, write_private
from mmstack.ops.stack_file import StackFile

Format = Literal["dotenv", "compose", "kubernetes"]
FORMATS: Final = get_args(Format)
COMPOSE_DIR: Final = "secrets"
ROTATION_RULES: Final = "secrets-rotation.rules.yml"  # in COMPOSE_DIR; a ConfigMap's key
ROTATION_RULES_PATTERN: Final = "*.rules.yml"  # how Prometheus finds it (or nothing) there
ROTATION_ALERT: Final = "MmstackSecretRotationDue"

log = logging.getLogger(__name__)


def env_var_name(secret: str) -> str:
    return secret.upper().replace("-", "_")


def current_values(store: SecretsStore, stack: StackFile, env: str) -> dict[str, str]:
    stack.environment(env)
    entries = store.entries(env)
    if missing := [name for name in stack.secrets if name not in entries]:
        raise SecretsError(
            f"{env} lacks {', '.join(missing)}: run `mmstack secrets init --env {env}` first"
        )
    return {name: entries[name].current_version().value for name in stack.secrets}


def rotation_rules(store: SecretsStore, stack: StackFile, env: str) -> str:
    """Prometheus rules: per secret, an alert from the day its current version reaches the
    stack file's `rotate_days` (a constant in the rule: rendering again after a rotation
    moves it)."""
    entries = store.entries(env)
    rules = []
    for name, spec in stack.secrets.items():
        issued = entries[name].current_version().created_at
        due = issued + timedelta(days=spec.rotate_days)
        rules.append(
            {
                "alert": ROTATION_ALERT,
                "expr": f"vector(time()) > {int(due.timestamp())}",
                "labels": {"severity": "warning", "secret": name, "environment": env},
                "annotations": {
                    "summary": (
                        f"Secret {name} of {env}, issued {issued:%Y-%m-%d}, was due for "
                        f"rotation on {due:%Y-%m-%d} (every {spec.rotate_days} days): "
                        f"mmstack secrets rotate --env {env} {name}"
                    )
                },
            }
        )
    document = {"groups": [{"name": "mmstack-secrets-rotation", "rules": rules}]}
    return yaml.safe_dump(document, sort_keys=False)


def render(
    store: SecretsStore, stack: StackFile, env: str, fmt: Format, out_dir: Path
) -> list[Path]:
    values = current_values(store, stack, env)
    if fmt == "dotenv":
        written = [_dotenv(values, env, out_dir)]
    elif fmt == "compose":
        written = _compose(values, rotation_rules(store, stack, env), out_dir)
    elif fmt == "kubernetes":
        rules = rotation_rules(store, stack, env)
        written = [_kubernetes(values, rules, stack.project, env, out_dir)]
    else:
        raise SecretsError(f"unknown format '{fmt}': one of {', '.join(FORMATS)}")
    log.info("rendered %d secrets of %s as %s into %s", len(values), env, fmt, out_dir)
    return written


def _dotenv(values: dict[str, str], env: str, out_dir: Path) -> Path:
    lines = [f"# mmstack secrets of {env} (`mmstack secrets render`); never commit this file"]
    for name, value in values.items():
        if not value.isprintable() or any(c in value for c in " '\"\\$#`="):
            raise SecretsError(f"'{name}' cannot be written to a .env file as it is")
        lines.append(f"{env_var_name(name)}={value}")
    path = out_dir / ".env"
    write_private(path, ("\n".join(lines) + "\n").encode())
    return path


def _compose(values: dict[str, str], rules: str, out_dir: Path) -> list[Path]:
    directory = out_dir / COMPOSE_DIR
    ensure_private_dir(directory)
    written = []
    for name, value in values.items():
        # No trailing newline: some images read the whole file as the value. Compose mounts
        # a file secret as it is (it ignores uid, gid and mode for files), so the services'
        # own users must be able to read it: 0444, in the 0700 directory that keeps the
        # host's other users out.
        write_private(directory / name, value.encode(), mode=0o444)
        written.append(directory / name)
    write_private(directory / ROTATION_RULES, rules.encode(), mode=0o444)
    return [*written, directory / ROTATION_RULES]


def _kubernetes(values: dict[str, str], rules: str, project: str, env: str, out_dir: Path) -> Path:
    labels = {
        "app.kubernetes.io/part-of": project,
        "app.kubernetes.io/managed-by": "mmstack",
        "mmstack.io/environment": env,
    }
    documents: list[dict[str, object]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{project}-{name}", "labels": labels},
            "type": "Opaque",
            "data": {"value": base64.b64encode(value.encode()).decode()},
        }
        for name, value in values.items()
    ]
    # The Helm chart's Prometheus mounts it (optional: Prometheus runs without it).
    documents.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{project}-secrets-rotation", "labels": labels},
            "data": {ROTATION_RULES: rules},
        }
    )
    path = out_dir / "secrets.yaml"
    write_private(path, yaml.safe_dump_all(documents, sort_keys=False).encode())
    return path
