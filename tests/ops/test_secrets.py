"""The secrets store on real files and the real PostgreSQL: encryption and keys, modes,
generation, rotation and rollback (the database first for its password), rendering, and
every CLI command scanned for the values it must not print."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from typer.testing import CliRunner, Result

from mmstack.auth.secrets_format import split_api_key
from mmstack.cli.main import app
from mmstack.ops.secrets_render import (
    ROTATION_ALERT,
    ROTATION_RULES,
    env_var_name,
    render,
    rotation_rules,
)
from mmstack.ops.secrets_rotation import init_secrets, rollback, rotate, secrets_status
from mmstack.ops.secrets_store import KEY_ENV, Key, SecretsError, SecretsStore, load_key, utcnow
from mmstack.ops.stack_file import PACKAGED_STACK, StackFile, load_stack_file
from tests.conftest import PG_DSN

ENV = "production"
runner = CliRunner()


@pytest.fixture
def stack() -> StackFile:
    return load_stack_file(PACKAGED_STACK)


@pytest.fixture
def key(tmp_path: Path) -> Key:
    return load_key(tmp_path / ".mmstack" / "secrets.key", create=True)


@pytest.fixture
def store(tmp_path: Path, key: Key, stack: StackFile) -> SecretsStore:
    opened = SecretsStore.open(tmp_path / ".mmstack" / "secrets.enc", key)
    init_secrets(opened, stack, ENV)
    opened.save()
    return opened


def value(store: SecretsStore, name: str) -> str:
    return store.entry(ENV, name).current_version().value


def reopen(store: SecretsStore, key: Key) -> SecretsStore:
    """What the next command would see: the file, not this process's memory."""
    return SecretsStore.open(store.path, key)


# --- the store and its key ----------------------------------------------------------


def test_the_store_cannot_be_read_without_its_key(store: SecretsStore, key: Key) -> None:
    data = store.path.read_bytes()
    for entry in store.entries(ENV).values():
        assert entry.current_version().value.encode() not in data
    assert b"postgres-password" not in data  # the names are encrypted too

    wrong = Key(secrets.token_bytes(32), "test")
    with pytest.raises(SecretsError, match="wrong key"):
        SecretsStore.open(store.path, wrong)
    with pytest.raises(SecretsError, match="no key"):
        load_key(store.path.parent / "absent.key")

    tampered = bytearray(data)
    tampered[-1] ^= 1
    store.path.write_bytes(bytes(tampered))
    with pytest.raises(SecretsError, match="altered"):
        SecretsStore.open(store.path, key)
    store.path.write_bytes(b"not a store")
    with pytest.raises(SecretsError, match="not an mmstack secrets store"):
        SecretsStore.open(store.path, key)


def test_the_key_can_come_from_the_environment(
    store: SecretsStore, key: Key, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    encoded = base64.urlsafe_b64encode(key.material).decode().rstrip("=")
    monkeypatch.setenv(KEY_ENV, encoded)
    from_env = load_key(tmp_path / "nowhere.key")
    assert from_env.source == KEY_ENV
    assert value(SecretsStore.open(store.path, from_env), "redis-password") == value(
        store, "redis-password"
    )
    monkeypatch.setenv(KEY_ENV, "dG9vIHNob3J0")
    with pytest.raises(SecretsError, match="base64url of 32 bytes") as raised:
        load_key(tmp_path / "nowhere.key")
    assert "dG9vIHNob3J0" not in str(raised.value)


def test_store_and_key_are_0600_and_a_wider_key_file_is_refused(
    store: SecretsStore, tmp_path: Path
) -> None:
    key_file = tmp_path / ".mmstack" / "secrets.key"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    store.save()  # a rewrite keeps the mode
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    key_file.chmod(0o640)
    with pytest.raises(SecretsError, match="chmod 600"):
        load_key(key_file)


# --- generation, rotation, rollback, status ------------------------------------------


def test_init_generates_each_kind_once(store: SecretsStore, key: Key, stack: StackFile) -> None:
    before = {name: value(store, name) for name in stack.secrets}
    assert set(before) == set(stack.secrets)
    assert split_api_key(before["mmstack-service-key"]) is not None
    assert len(before["redis-password"]) == 32
    assert re.fullmatch(r"[0-9a-f]{64}", before["webui-secret-key"])
    assert len(set(before.values())) == len(before)

    again = reopen(store, key)
    created, existing = init_secrets(again, stack, ENV)
    assert created == []
    assert existing == list(stack.secrets)
    assert {name: value(again, name) for name in stack.secrets} == before
    created, _ = init_secrets(again, stack, "staging")  # another environment: its own values
    assert created == list(stack.secrets)
    assert (
        again.entry("staging", "redis-password").current_version().value != before["redis-password"]
    )


def test_rotate_then_rollback_restores_the_previous_value(
    store: SecretsStore, key: Key, stack: StackFile
) -> None:
    original = value(store, "redis-password")
    [change] = rotate(store, stack, ENV, "redis-password")
    assert (change.version, change.previous) == (2, 1)
    assert change.restart == ("api", "prometheus", "redis")  # Prometheus: the rotation rules
    rotated = value(reopen(store, key), "redis-password")
    assert rotated != original

    rollback(store, stack, ENV, "redis-password")
    assert value(reopen(store, key), "redis-password") == original
    rollback(store, stack, ENV, "redis-password")  # a rollback is itself undone by one
    assert value(reopen(store, key), "redis-password") == rotated
    assert len(reopen(store, key).entry(ENV, "redis-password").versions) == 2

    with pytest.raises(SecretsError, match="no previous version"):
        rollback(store, stack, ENV, "grafana-admin-password")
    with pytest.raises(SecretsError, match="no secret 'nope'"):
        rotate(store, stack, ENV, "nope")


def test_status_shows_a_secret_due_once_its_version_is_older_than_the_policy(
    store: SecretsStore, key: Key, stack: StackFile
) -> None:
    assert not any(s.due for s in secrets_status(store, stack, ENV))
    assert rotate(store, stack, ENV) == []  # nothing due, nothing rotated

    store.entry(ENV, "redis-password").current_version().created_at = utcnow() - timedelta(days=91)
    store.entry(ENV, "webui-secret-key").current_version().created_at = utcnow() - timedelta(
        days=100
    )
    store.save()
    aged = reopen(store, key)
    status = {s.name: s for s in secrets_status(aged, stack, ENV)}
    assert (status["redis-password"].age_days, status["redis-password"].due) == (91, True)
    assert (status["webui-secret-key"].age_days, status["webui-secret-key"].due) == (100, False)
    assert status["qdrant-api-key"].versions == 1

    changes = rotate(aged, stack, ENV)
    assert [c.secret for c in changes] == ["redis-password"]
    assert not any(s.due for s in secrets_status(reopen(store, key), stack, ENV))


def test_the_database_password_is_not_rotated_without_the_database(
    store: SecretsStore, key: Key, stack: StackFile
) -> None:
    store.entry(ENV, "postgres-password").current_version().created_at = utcnow() - timedelta(
        days=91
    )
    store.entry(ENV, "redis-password").current_version().created_at = utcnow() - timedelta(days=91)
    store.save()
    before = store.path.read_bytes()
    with pytest.raises(SecretsError, match="--database-url"):
        rotate(store, stack, ENV)
    with pytest.raises(SecretsError, match="could not change the password"):
        rotate(store, stack, ENV, "postgres-password", database_url="postgresql://x@127.0.0.1:1/x")
    assert store.path.read_bytes() == before  # nothing written, not even the redis password
    [plan] = rotate(store, stack, ENV, "postgres-password", dry_run=True)
    assert plan.steps[0] == "set the new value as the password of role 'mmstack' in the database"
    assert plan.restart == ("api", "postgres", "prometheus", "worker")


# --- rendering ------------------------------------------------------------------------


def test_render_formats_read_back_to_the_current_values(
    store: SecretsStore, stack: StackFile, tmp_path: Path
) -> None:
    rotate(store, stack, ENV, "qdrant-api-key")
    expected = {name: value(store, name) for name in stack.secrets}
    out = tmp_path / "out"

    [dotenv] = render(store, stack, ENV, "dotenv", out)
    lines = [ln for ln in dotenv.read_text().splitlines() if ln and not ln.startswith("#")]
    assert dict(ln.split("=", 1) for ln in lines) == {
        env_var_name(n): v for n, v in expected.items()
    }
    assert "POSTGRES_PASSWORD" in dict(ln.split("=", 1) for ln in lines)

    *files, rules = render(store, stack, ENV, "compose", out)
    assert {p.name: p.read_text() for p in files} == expected
    assert all(p.parent == out / "secrets" for p in [*files, rules])
    assert rules.name == ROTATION_RULES
    assert rules.read_text() == rotation_rules(store, stack, ENV)

    [manifest] = render(store, stack, ENV, "kubernetes", out)
    *documents, config_map = list(yaml.safe_load_all(manifest.read_text()))
    assert {d["kind"] for d in documents} == {"Secret"}
    assert {d["apiVersion"] for d in documents} == {"v1"}
    decoded = {
        d["metadata"]["name"]: base64.b64decode(d["data"]["value"]).decode() for d in documents
    }
    assert decoded == {f"mmstack-{n}": v for n, v in expected.items()}
    assert config_map["kind"] == "ConfigMap"
    assert config_map["metadata"]["name"] == "mmstack-secrets-rotation"
    assert config_map["data"] == {ROTATION_RULES: rules.read_text()}

    for path in [dotenv, manifest]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # Compose mounts secret files as they are: readable by the services' own users, inside
    # a directory only the owner may enter.
    for path in [*files, rules]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, path
    assert stat.S_IMODE((out / "secrets").stat().st_mode) == 0o700


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")
def test_the_rotation_alert_fires_once_a_rendered_secret_is_due(
    store: SecretsStore, key: Key, stack: StackFile, tmp_path: Path
) -> None:
    """Prometheus' own rule tests: at the last whole day before the redis password's due
    time no alert, a day later the alert for it alone; after a rotation, none."""
    store.entry(ENV, "redis-password").current_version().created_at = utcnow() - timedelta(days=91)
    store.save()
    aged = reopen(store, key)
    rules = render(aged, stack, ENV, "compose", tmp_path)[-1]
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    issued = aged.entry(ENV, "redis-password").current_version().created_at
    due = int((issued + timedelta(days=90)).timestamp())
    day = 86400
    before = due // day * day  # at or before the due second: not yet due (`>`)
    summary = _rule_of(rules.read_text(), "redis-password")["annotations"]["summary"]
    assert "mmstack secrets rotate --env production redis-password" in summary
    due_alert = {
        "exp_labels": {"severity": "warning", "secret": "redis-password", "environment": ENV},
        "exp_annotations": {"summary": summary},
    }
    unit = {
        "rule_files": [rules.name],
        "evaluation_interval": "1d",  # promtool steps from 0 to the latest time tested
        "tests": [
            {
                "interval": "1d",
                "alert_rule_test": [
                    {"eval_time": f"{before}s", "alertname": ROTATION_ALERT, "exp_alerts": []},
                    {
                        "eval_time": f"{before + day}s",
                        "alertname": ROTATION_ALERT,
                        "exp_alerts": [due_alert],
                    },
                ],
            }
        ],
    }
    (tmp_path / "secrets" / "test.yml").write_text(yaml.safe_dump(unit))
    tested = subprocess.run(
        ["promtool", "test", "rules", "test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path / "secrets",
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr

    rotate(aged, stack, ENV, "redis-password")
    rendered = render(aged, stack, ENV, "compose", tmp_path)[-1].read_text()
    rotated = _rule_of(rendered, "redis-password")["expr"]
    assert int(rotated.rsplit(" ", 1)[1]) > due + 85 * day  # due again in 90 days from now


def _rule_of(rules: str, secret: str) -> dict[str, Any]:
    [rule] = [
        r for r in yaml.safe_load(rules)["groups"][0]["rules"] if r["labels"]["secret"] == secret
    ]
    return dict(rule)


def test_render_refuses_an_environment_without_its_secrets(
    store: SecretsStore, stack: StackFile, tmp_path: Path
) -> None:
    with pytest.raises(SecretsError, match="run `mmstack secrets init --env staging`"):
        render(store, stack, "staging", "dotenv", tmp_path)
    assert not (tmp_path / ".env").exists()


# --- the database password, on the real PostgreSQL ----------------------------------


@pytest.fixture
def role() -> Iterator[str]:
    name = f"mmstack_rot_{secrets.token_hex(4)}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'initial-password'")
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {name}")


def stored_verifier(role: str) -> str:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        found = row.fetchone()
    assert found is not None
    return str(found[0])


def verifies(verifier: str, password: str) -> bool:
    """Would PostgreSQL accept `password`? The SCRAM stored key recomputed from it."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier)
    assert match, verifier
    iterations, salt, stored_key = int(match[1]), base64.b64decode(match[2]), match[3]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key


def stack_for_role(directory: Path, role: str) -> Path:
    """The default stack file, its database role the throwaway one."""
    raw = yaml.safe_load(PACKAGED_STACK.read_text())
    raw["services"]["postgres"]["environment"]["POSTGRES_USER"] = role
    path = directory / "stack.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.postgres
def test_the_database_password_changes_in_the_database_first(
    tmp_path: Path, key: Key, role: str
) -> None:
    stack = load_stack_file(stack_for_role(tmp_path, role))
    store = SecretsStore.open(tmp_path / ".mmstack" / "secrets.enc", key)
    init_secrets(store, stack, ENV)
    store.save()
    original = value(store, "postgres-password")
    initial = stored_verifier(role)
    assert verifies(initial, "initial-password")

    [change] = rotate(store, stack, ENV, "postgres-password", database_url=PG_DSN)
    assert change.steps[0].startswith(f"set the new value as the password of role '{role}'")
    rotated = value(reopen(store, key), "postgres-password")
    assert rotated != original
    assert stored_verifier(role) != initial
    assert verifies(stored_verifier(role), rotated)

    rollback(store, stack, ENV, "postgres-password", database_url=PG_DSN)
    assert value(reopen(store, key), "postgres-password") == original
    assert verifies(stored_verifier(role), original)

    # The database refuses (no such role): the store keeps what it had.
    missing_role = load_stack_file(stack_for_role(tmp_path, f"{role}_gone"))
    before = store.path.read_bytes()
    with pytest.raises(SecretsError, match="does not exist"):
        rotate(store, missing_role, ENV, "postgres-password", database_url=PG_DSN)
    assert store.path.read_bytes() == before
    assert value(reopen(store, key), "postgres-password") == original


# --- the CLI never prints a value ---------------------------------------------------


def every_value(store_path: Path, key: Key) -> set[str]:
    opened = SecretsStore.open(store_path, key)
    return {
        v.value
        for env in ("production", "staging")
        for entry in opened.entries(env).values()
        for v in entry.versions
    }


@pytest.mark.postgres
def test_no_command_prints_or_logs_a_secret_value(
    tmp_path: Path, role: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)  # the defaults: ./stack.yaml, ./.mmstack/...
    stack_for_role(tmp_path, role)
    outputs: list[str] = []
    seen: set[str] = set()

    def cli(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(app, ["secrets", *args])
        assert (result.exit_code == 0) is ok, (args, result.output, result.exception)
        if not ok:
            assert isinstance(result.exception, SystemExit), result.exception
            assert result.stdout == ""
        outputs.extend([result.stdout, result.stderr])
        if (tmp_path / ".mmstack" / "secrets.enc").exists():
            seen.update(every_value(tmp_path / ".mmstack" / "secrets.enc", key()))
        return result

    def key() -> Key:
        return load_key(tmp_path / ".mmstack" / "secrets.key")

    cli("status", "--env", ENV, ok=False)  # no key yet
    cli("init", "--env", ENV)
    cli("init", "--env", ENV, "--json")
    cli("init", "--env", "staging")
    cli("status", "--env", ENV)
    cli("status", "--env", ENV, "--json")
    for fmt in ("dotenv", "compose", "kubernetes"):
        cli("render", "--env", ENV, "--format", fmt, "--out", "out")
    cli("render", "--env", ENV, "--format", "helm", ok=False)
    cli("rotate", "--env", ENV, "--dry-run")
    cli("rotate", "--env", ENV, "mmstack-service-key")
    cli("rotate", "--env", ENV, "postgres-password", ok=False)  # no --database-url
    cli("rotate", "--env", ENV, "postgres-password", "--database-url", PG_DSN, "--json")
    rotated = value(SecretsStore.open(Path(".mmstack/secrets.enc"), key()), "postgres-password")
    assert verifies(stored_verifier(role), rotated)
    cli("rollback", "--env", ENV, "postgres-password", "--database-url", PG_DSN)
    cli("rollback", "--env", ENV, "mmstack-service-key", "--json")
    cli("rollback", "--env", ENV, "redis-password", ok=False)  # no previous version
    cli("show", "--env", ENV, "redis-password")
    cli("show", "--env", ENV, "redis-password", "--json")
    cli("show", "--env", ENV, "no-such-secret", ok=False)
    wrong = tmp_path / "wrong.key"
    wrong.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
    wrong.chmod(0o600)
    cli("status", "--env", ENV, "--key-file", str(wrong), ok=False)
    cli("status", "--env", "nowhere", ok=False)

    assert len(seen) >= 2 * 12 + 2  # two environments, two rotations
    seen.add((tmp_path / ".mmstack" / "secrets.key").read_text().strip())  # the key, too
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert any(r.name.startswith("mmstack.ops.secrets") for r in caplog.records)
    for text in [*outputs, logged]:
        flat = "".join(text.split())  # rich wraps long lines
        leaked = [v for v in seen if v in text or v in flat]
        assert not leaked, text

    revealed = cli("show", "--env", ENV, "redis-password", "--reveal").stdout.strip()
    assert revealed == value(
        SecretsStore.open(Path(".mmstack/secrets.enc"), key()), "redis-password"
    )
    assert revealed in seen
    shown = json.loads(cli("show", "--env", ENV, "redis-password", "--reveal", "--json").stdout)
    assert shown["value"] == revealed
