"""Generating, rotating and rolling back the secrets of a stack file, in a safe order per
kind: the database password is changed in the database before the store makes it
current (so services never get a password the database does not accept yet), then the
services that read the secret are re-rendered and restarted."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime

import psycopg
from psycopg import sql

from mmstack.auth.secrets_format import new_api_key
from mmstack.ops.monitoring import reads_rotation_rules
from mmstack.ops.secrets_store import SecretsError, SecretsStore, Version, utcnow
from mmstack.ops.stack_file import STACKS, SecretSpec, StackFile

DATABASE_SERVICE = "postgres"
SCRAM_ITERATIONS = 4096  # PostgreSQL's default for SCRAM-SHA-256

log = logging.getLogger(__name__)


def generate_value(spec: SecretSpec) -> str:
    if spec.kind == "password":
        return secrets.token_urlsafe(spec.length)[: spec.length]
    if spec.kind == "token":
        return secrets.token_urlsafe(spec.length)
    if spec.kind == "key":
        return secrets.token_hex(spec.length)
    return new_api_key()[1]


def init_secrets(
    store: SecretsStore, stack: StackFile, env: str, now: datetime | None = None
) -> tuple[list[str], list[str]]:
    """Generate the secrets the environment does not have yet: (created, already there)."""
    stack.environment(env)
    have = store.entries(env)
    created = [name for name in stack.secrets if name not in have]
    for name in created:
        store.add_version(env, name, generate_value(stack.secrets[name]), now or utcnow())
        log.info("secret %s of %s generated", name, env)
    return created, [name for name in stack.secrets if name in have]


@dataclasses.dataclass(frozen=True)
class SecretStatus:
    name: str
    kind: str
    versions: int
    current: int | None
    age_days: int | None
    rotate_days: int
    due: bool


def secrets_status(
    store: SecretsStore, stack: StackFile, env: str, now: datetime | None = None
) -> list[SecretStatus]:
    stack.environment(env)
    now = now or utcnow()
    result = []
    for name, spec in stack.secrets.items():
        entry = store.entries(env).get(name)
        if entry is None:
            result.append(SecretStatus(name, spec.kind, 0, None, None, spec.rotate_days, False))
            continue
        age = (now - entry.current_version().created_at).days
        result.append(
            SecretStatus(
                name,
                spec.kind,
                len(entry.versions),
                entry.current,
                age,
                spec.rotate_days,
                age >= spec.rotate_days,
            )
        )
    return result


@dataclasses.dataclass(frozen=True)
class RotationPlan:
    secret: str
    kind: str
    database_role: str | None  # set: the database password, changed there first
    restart: tuple[str, ...]

    def steps(self, value: str = "the new value") -> list[str]:
        steps = []
        if self.database_role is not None:
            steps.append(
                f"set {value} as the password of role '{self.database_role}' in the database"
            )
        steps.append(f"make {value} current in the store (the one it replaces kept)")
        restart = ", ".join(self.restart) or "none"
        steps.append(f"re-render the secrets and restart the services that read it: {restart}")
        return steps


def plan_rotation(stack: StackFile, env: str, name: str) -> RotationPlan:
    if name not in stack.secrets:
        raise SecretsError(f"no secret '{name}' in the stack file")
    services = stack.resolved(env, list(STACKS))
    database = services.get(DATABASE_SERVICE)
    role = None
    if database is not None and any(use.secret == name for use in database.secrets):
        role = database.environment.get("POSTGRES_USER", "postgres")
    # Prometheus too: the rotation rules rendered with the secrets move the due date.
    restart = tuple(
        sorted(
            n
            for n, s in services.items()
            if any(use.secret == name for use in s.secrets) or reads_rotation_rules(s)
        )
    )
    return RotationPlan(name, stack.secrets[name].kind, role, restart)


def scram_verifier(password: str) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password, computed here (as psql's
    \\password does) so that the password itself never reaches the server or its logs."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def change_database_password(database_url: str, role: str, password: str) -> None:
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    statement = sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(scram_verifier(password))
    )
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SecretsError(
            f"could not change the password of role '{role}' in the database: {reason}"
        ) from None
    log.info("password of database role %s changed", role)


@dataclasses.dataclass(frozen=True)
class Change:
    secret: str
    version: int
    previous: int | None
    steps: list[str]
    restart: tuple[str, ...]
    done: bool = True


def rotate(
    store: SecretsStore,
    stack: StackFile,
    env: str,
    name: str | None = None,
    *,
    database_url: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[Change]:
    """The named secret, or every due one, gets a new version. The store is saved after
    each secret, so a failure part way leaves the others consistent with the database."""
    now = now or utcnow()
    if name is not None:
        names = [name]
    else:
        names = [s.name for s in secrets_status(store, stack, env, now) if s.due]
    plans = [plan_rotation(stack, env, n) for n in names]
    for plan in plans:
        store.entry(env, plan.secret)
    _require_database_url(plans, database_url, dry_run)
    changes = []
    for plan in plans:
        entry = store.entry(env, plan.secret)
        if dry_run:
            changes.append(
                Change(plan.secret, entry.current, None, plan.steps(), plan.restart, False)
            )
            continue
        value = generate_value(stack.secrets[plan.secret])
        add = functools.partial(store.add_version, env, plan.secret, value, now)
        version = _switch(store, env, plan, value, database_url, add)
        changes.append(
            Change(plan.secret, version.number, entry.previous, plan.steps(), plan.restart)
        )
    return changes


def rollback(
    store: SecretsStore,
    stack: StackFile,
    env: str,
    name: str,
    *,
    database_url: str | None = None,
) -> Change:
    """The version current before the last change is current again, in the same order
    as a rotation (the database first)."""
    plan = plan_rotation(stack, env, name)
    entry = store.entry(env, name)
    if entry.previous is None:
        raise SecretsError(f"'{name}' in {env} has no previous version to roll back to")
    _require_database_url([plan], database_url, dry_run=False)
    target = entry.version(entry.previous).value
    version = _switch(store, env, plan, target, database_url, lambda: store.rollback(env, name))
    steps = plan.steps("the previous value")
    return Change(name, version.number, entry.previous, steps, plan.restart)


def _require_database_url(plans: list[RotationPlan], url: str | None, dry_run: bool) -> None:
    for plan in plans:
        if plan.database_role is not None and url is None and not dry_run:
            raise SecretsError(
                f"'{plan.secret}' is the database password: pass --database-url (a superuser "
                f"or the role itself) so that it is changed in the database first"
            )


def _switch(
    store: SecretsStore,
    env: str,
    plan: RotationPlan,
    value: str,
    database_url: str | None,
    make_current: Callable[[], Version],
) -> Version:
    entry = store.entry(env, plan.secret)
    before = entry.current_version().value
    if plan.database_role is not None and database_url is not None:
        change_database_password(database_url, plan.database_role, value)
    try:
        version = make_current()
        store.save()
    except BaseException:
        # The database already has the new password: put the old one back rather than
        # leave services with a value the database no longer accepts.
        if plan.database_role is not None and database_url is not None:
            change_database_password(database_url, plan.database_role, before)
        raise
    log.info("secret %s of %s: version %d is current", plan.secret, env, version.number)
    return version
