"""The audit log: what is recorded, that it cannot be changed, and querying it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mmstack.auth.audit import Actor, AuditQuery, event_dict
from mmstack.auth.roles import Role
from mmstack.config.logging import request_id_var
from mmstack.config.settings import Settings
from mmstack.errors import AuthenticationError
from mmstack.store.models import AuditEvent
from tests.auth.conftest import ADMIN, PASSWORD, Env, open_env


def _events(env: Env, action: str | None = None, **kw: object) -> list[AuditEvent]:
    return env.auth.audit.query(AuditQuery(action=action, limit=10_000, **kw))  # type: ignore[arg-type]


def test_logins_are_recorded(env: Env) -> None:
    user = env.user("alice")
    env.auth.logins.login("alice", PASSWORD, address="198.51.100.7")
    with pytest.raises(AuthenticationError):
        env.auth.logins.login("alice", "wrong-Password-0", address="198.51.100.8")
    with pytest.raises(AuthenticationError):
        env.auth.logins.login("nobody", PASSWORD, address="198.51.100.9")
    success, failure, unknown = _events(env, "auth.login")
    assert (success.result, success.actor_id, success.address) == (
        "success",
        user.id,
        "198.51.100.7",
    )
    assert success.team_id == user.team_id
    assert success.target is not None
    assert (failure.result, failure.actor_id, failure.detail) == (
        "failure",
        user.id,
        {"reason": "password"},
    )
    assert (unknown.result, unknown.actor_id, unknown.address) == (
        "failure",
        None,
        "198.51.100.9",
    )
    assert all(PASSWORD not in json.dumps(event_dict(e)) for e in _events(env))


def test_a_locked_login_is_recorded_as_denied(env: Env) -> None:
    env.user("alice")
    env.lock("alice", time.time() + 60)
    with pytest.raises(Exception, match="too many failed logins"):
        env.auth.logins.login("alice", PASSWORD, address=None)
    [denied] = _events(env, "auth.login")
    assert (denied.result, denied.detail) == ("denied", {"reason": "locked"})


def test_key_and_role_changes_are_recorded(env: Env) -> None:
    user = env.user("alice")
    actor = Actor(user.id, None, user.team_id, "192.0.2.1")
    key, _ = env.auth.keys.create(user.id, name="k", actor=actor, access="read")
    env.auth.keys.revoke(key.id, actor=actor)
    env.auth.accounts.set_role(user.id, Role.VIEWER, actor=ADMIN)
    [created] = _events(env, "key.create")
    assert (created.target, created.actor_id, created.address) == (key.id, user.id, "192.0.2.1")
    assert created.detail["access"] == "read"
    assert created.detail["user_id"] == user.id
    [revoked] = _events(env, "key.revoke")
    assert revoked.target == key.id
    assert revoked.result == "success"
    [role] = _events(env, "user.role")
    assert role.target == user.id
    assert role.detail == {"from": "developer", "to": "viewer"}
    assert role.address == "local"
    assert role.actor_id is None
    first_admin, created_user = _events(env, "user.create")  # the first admin's, and alice's
    assert created_user.target == user.id
    assert created_user.detail["role"] == "developer"
    assert first_admin.detail["username"] == "admin"


def test_the_request_id_is_kept(env: Env) -> None:
    token = request_id_var.set("req-1234")
    try:
        env.auth.audit.record("test.event", ADMIN)
    finally:
        request_id_var.reset(token)
    [event] = _events(env, "test.event")
    assert event.request_id == "req-1234"


def test_a_failed_change_leaves_no_success_event(env: Env) -> None:
    with pytest.raises(Exception, match="last active admin"):
        env.auth.accounts.set_role("admin", Role.VIEWER, actor=ADMIN)
    assert _events(env, "user.role") == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET result = 'success'",
        "UPDATE audit_events SET detail = '{}' WHERE action = 'auth.login'",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE result = 'failure'",
    ],
)
def test_the_log_is_append_only(env: Env, statement: str) -> None:
    with pytest.raises(AuthenticationError):
        env.auth.logins.login("admin", "wrong-Password-0", address=None)
    before = [event_dict(e) for e in _events(env)]
    assert any(e["result"] == "failure" for e in before)
    with pytest.raises(DBAPIError, match="append-only"), env.db.engine.begin() as conn:
        conn.execute(text(statement))
    assert [event_dict(e) for e in _events(env)] == before
    env.auth.audit.record("still.appendable", ADMIN)  # inserting still works
    assert len(_events(env)) == len(before) + 1


def test_query_filters(env: Env) -> None:
    alice, bob = env.user("alice"), env.user("bob")
    env.auth.logins.login("alice", PASSWORD, address=None)
    with pytest.raises(AuthenticationError):
        env.auth.logins.login("bob", "wrong-Password-0", address=None)
    env.auth.keys.create(bob.id, name="k", actor=Actor(bob.id))
    auth_events = _events(env, "auth.")
    assert len(auth_events) == 2
    assert {e.action for e in auth_events} == {"auth.login"}
    assert _events(env, "auth") == []  # no prefix without the dot
    assert _events(env, "auth%.") == []  # LIKE wildcards are literal
    assert [e.actor_id for e in _events(env, result="failure")] == [bob.id]
    assert [e.action for e in _events(env, actor_id=bob.id)] == ["auth.login", "key.create"]
    assert [e.actor_id for e in _events(env, "auth.login", result="success")] == [alice.id]
    everything = _events(env)
    ids = [e.id for e in everything]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert [e.id for e in _events(env, after_id=ids[-3])] == ids[-2:]
    assert [e.id for e in env.auth.audit.query(AuditQuery(limit=2))] == ids[:2]
    middle = everything[len(everything) // 2]
    assert all(e.at >= middle.at for e in _events(env, since=middle.at))
    assert all(e.at < middle.at for e in _events(env, until=middle.at))
    assert _events(env, since=time.time() + 60) == []


def test_export_gives_json_lines(env: Env) -> None:
    env.user("alice")
    env.auth.logins.login("alice", PASSWORD, address="192.0.2.5")
    lines = list(env.auth.audit.export(AuditQuery(limit=1)))  # the limit is ignored
    assert len(lines) == len(_events(env)) >= 3
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    records = [json.loads(line) for line in lines]
    assert set(records[0]) == {
        "id",
        "at",
        "action",
        "result",
        "actor_id",
        "key_id",
        "team_id",
        "target",
        "address",
        "request_id",
        "detail",
    }
    assert records[-1]["action"] == "auth.login"
    assert records[-1]["address"] == "192.0.2.5"
    only = [json.loads(x) for x in env.auth.audit.export(AuditQuery(action="auth."))]
    assert [r["action"] for r in only] == ["auth.login"]


def test_export_reads_past_one_batch(env: Env) -> None:
    with env.db.session(write=True) as session:
        for i in range(1205):
            env.auth.audit.record("bulk.event", ADMIN, target=str(i), session=session)
    lines = list(env.auth.audit.export(AuditQuery(action="bulk.event")))
    targets = [json.loads(line)["target"] for line in lines]
    assert targets == [str(i) for i in range(1205)]


@pytest.mark.postgres
def test_postgres_refuses_to_truncate_the_log(tmp_path: Path, pg_url: str) -> None:
    """TRUNCATE skips row triggers; on PostgreSQL a statement trigger refuses it too
    (SQLite has no TRUNCATE: its `DELETE FROM` is refused above)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url)
    with open_env(settings) as env:
        env.auth.audit.record("kept", ADMIN)
        before = len(_events(env))
        with pytest.raises(DBAPIError, match="append-only"), env.db.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_events"))
        assert len(_events(env)) == before
