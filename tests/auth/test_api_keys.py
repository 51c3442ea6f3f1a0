"""API keys: their format, storage, scopes, and every way one stops working."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import text, update

from mmstack.auth.audit import Actor
from mmstack.auth.roles import KEY_PERMISSIONS, EndpointGroup, Permission, Role
from mmstack.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from mmstack.store.models import ApiKey, Collection
from tests.auth.conftest import ADMIN, Env


def _collection(env: Env, name: str, team_id: str) -> str:
    with env.db.session(write=True) as session:
        collection = Collection(name=name, team_id=team_id)
        session.add(collection)
        session.flush()
        return collection.id


def _flip_last(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def test_key_format_and_storage(env: Env) -> None:
    user = env.user("alice")
    key, token = env.auth.keys.create(user.id, name="laptop", actor=ADMIN)
    assert re.fullmatch(r"mmk_[0-9a-f]{12}_[A-Za-z0-9_-]{40,}", token)
    assert token.startswith(f"mmk_{key.id}_")
    secret = token.removeprefix(f"mmk_{key.id}_")
    with env.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_keys")).all()
    assert len(rows) == 1
    dumped = repr(rows)
    assert token not in dumped
    assert secret not in dumped
    import hashlib

    assert hashlib.sha256(secret.encode()).hexdigest() in dumped


def test_key_authenticates_as_its_user_with_its_scopes(env: Env) -> None:
    user = env.user("alice", Role.DEVELOPER)
    cid = _collection(env, "notes", user.team_id)
    key, token = env.auth.keys.create(
        "alice",
        name="ci",
        actor=ADMIN,
        access="write",
        endpoints=["search", "collections", "search"],
        collections=[cid],
        quotas={"requests_per_minute": 5},
    )
    principal = env.auth.keys.authenticate(token)
    assert (principal.user_id, principal.username, principal.team_id) == (
        user.id,
        "alice",
        user.team_id,
    )
    assert principal.key_id == key.id
    assert principal.session_id is None
    assert principal.endpoints == frozenset({"search", "collections"})
    assert principal.collection_ids == frozenset({cid})
    assert principal.owner.collection_ids == frozenset({cid})
    assert principal.key_quotas == {"requests_per_minute": 5}
    assert principal.can(Permission.WRITE)
    assert not principal.can(Permission.KEYS)  # a key never manages keys or accounts
    principal.require_endpoint(EndpointGroup.SEARCH)
    with pytest.raises(PermissionDeniedError):
        principal.require_endpoint(EndpointGroup.CHAT)
    assert env.auth.authenticate(f"Bearer {token}").key_id == key.id
    assert env.auth.keys.get(key.id).last_used_at is not None


def test_read_key_cannot_write(env: Env) -> None:
    env.user("alice", Role.DEVELOPER)
    _, token = env.auth.keys.create("alice", name="reader", actor=ADMIN, access="read")
    principal = env.auth.keys.authenticate(token)
    assert not principal.can(Permission.WRITE)
    assert principal.permissions <= KEY_PERMISSIONS["read"]
    with pytest.raises(PermissionDeniedError, match="this API key"):
        principal.require(Permission.WRITE)
    principal.require(Permission.READ)


def test_admin_key_has_no_admin_rights(env: Env) -> None:
    _, token = env.auth.keys.create("admin", name="ops", actor=ADMIN)
    principal = env.auth.keys.authenticate(token)
    assert not principal.can(Permission.ADMIN)
    assert principal.can(Permission.OPERATE)


def test_viewer_and_operator_cannot_get_a_write_key(env: Env) -> None:
    for name, role in (("vera", Role.VIEWER), ("otto", Role.OPERATOR)):
        env.user(name, role)
        with pytest.raises(PermissionDeniedError, match="write access"):
            env.auth.keys.create(name, name="k", actor=ADMIN, access="write")
        _, token = env.auth.keys.create(name, name="k", actor=ADMIN, access="read")
        assert not env.auth.keys.authenticate(token).can(Permission.WRITE)
    # Only the read keys were made (two keys made in the same second have no set order).
    assert sorted(k.user_id for k in env.auth.keys.list()) == sorted(
        [env.auth.accounts.get_user("vera").id, env.auth.accounts.get_user("otto").id]
    )
    assert {k.access for k in env.auth.keys.list()} == {"read"}


def test_key_loses_write_when_its_user_becomes_a_viewer(env: Env) -> None:
    user = env.user("alice", Role.DEVELOPER)
    _, token = env.auth.keys.create(user.id, name="k", actor=ADMIN)
    env.auth.accounts.set_role(user.id, Role.VIEWER, actor=ADMIN)
    assert not env.auth.keys.authenticate(token).can(Permission.WRITE)


def test_key_collections_must_be_the_teams(env: Env) -> None:
    red = env.auth.accounts.create_team("red", actor=ADMIN)
    user = env.user("alice")
    ours = _collection(env, "ours", user.team_id)
    theirs = _collection(env, "theirs", red.id)
    with pytest.raises(NotFoundError, match=theirs):
        env.auth.keys.create(user.id, name="k", actor=ADMIN, collections=[ours, theirs])
    with pytest.raises(NotFoundError):
        env.auth.keys.create(user.id, name="k", actor=ADMIN, collections=["vs_missing"])
    key, _ = env.auth.keys.create(user.id, name="k", actor=ADMIN, collections=[ours])
    assert key.collections == [ours]


def test_key_arguments_are_checked(env: Env) -> None:
    env.user("alice")
    with pytest.raises(InvalidRequestError, match="unknown endpoint group 'admin'"):
        env.auth.keys.create("alice", name="k", actor=ADMIN, endpoints=["search", "admin"])
    with pytest.raises(InvalidRequestError, match="at least one"):
        env.auth.keys.create("alice", name="k", actor=ADMIN, endpoints=[])
    with pytest.raises(InvalidRequestError, match="access"):
        env.auth.keys.create("alice", name="k", actor=ADMIN, access="root")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="name"):
        env.auth.keys.create("alice", name="  ", actor=ADMIN)
    with pytest.raises(InvalidRequestError, match="future"):
        env.auth.keys.create("alice", name="k", actor=ADMIN, expires_at=int(time.time()) - 1)
    with pytest.raises(InvalidRequestError, match="unknown quota"):
        env.auth.keys.create("alice", name="k", actor=ADMIN, quotas={"requests_per_day": 1})
    with pytest.raises(InvalidRequestError, match=">= 0"):
        env.auth.keys.create("alice", name="k", actor=ADMIN, quotas={"requests_per_minute": -1})
    with pytest.raises(NotFoundError):
        env.auth.keys.create("nobody", name="k", actor=ADMIN)
    assert env.auth.keys.list() == []


def test_revoked_key_is_refused(env: Env) -> None:
    user = env.user("alice")
    key, token = env.auth.keys.create(user.id, name="k", actor=ADMIN)
    _, other = env.auth.keys.create(user.id, name="other", actor=ADMIN)
    env.auth.keys.authenticate(token)
    env.auth.keys.revoke(key.id, actor=Actor(user.id), user_id=user.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        env.auth.keys.authenticate(token)
    env.auth.keys.authenticate(other)
    assert env.auth.keys.get(key.id).revoked_at is not None


def test_only_the_owner_revokes_their_key(env: Env) -> None:
    alice, bob = env.user("alice"), env.user("bob")
    key, token = env.auth.keys.create(alice.id, name="k", actor=ADMIN)
    with pytest.raises(NotFoundError):
        env.auth.keys.revoke(key.id, actor=Actor(bob.id), user_id=bob.id)
    with pytest.raises(NotFoundError):
        env.auth.keys.get(key.id, user_id=bob.id)
    env.auth.keys.authenticate(token)
    assert [k.id for k in env.auth.keys.list(user_id=bob.id)] == []


def test_expired_key_is_refused(env: Env) -> None:
    user = env.user("alice")
    key, token = env.auth.keys.create(
        user.id, name="k", actor=ADMIN, expires_at=int(time.time()) + 3600
    )
    env.auth.keys.authenticate(token)
    with env.db.session(write=True) as session:
        session.execute(
            update(ApiKey).where(ApiKey.id == key.id).values(expires_at=int(time.time()) - 1)
        )
    with pytest.raises(AuthenticationError, match="expired"):
        env.auth.keys.authenticate(token)


def test_tampered_and_malformed_keys_are_refused(env: Env) -> None:
    user = env.user("alice")
    key, token = env.auth.keys.create(user.id, name="k", actor=ADMIN)
    _, other = env.auth.keys.create(user.id, name="other", actor=ADMIN)
    other_secret = other.split("_", 2)[2]
    for bad in (
        _flip_last(token),
        token[:-1],
        f"mmk_{key.id}_{other_secret}",  # another key's secret under this id
        f"mmk_{key.id}_",
        f"mmk_{key.id}",
        f"mmk_{'0' * 12}_{token.split('_', 2)[2]}",
        f"mmk_{key.id[:-1]}_{token.split('_', 2)[2]}",
        token.replace("mmk_", "mmx_", 1),
    ):
        with pytest.raises(AuthenticationError):
            env.auth.keys.authenticate(bad)
    env.auth.keys.authenticate(token)


def test_key_of_a_disabled_user_is_refused(env: Env) -> None:
    user = env.user("alice")
    _, token = env.auth.keys.create(user.id, name="k", actor=ADMIN)
    env.auth.accounts.set_disabled(user.id, True, actor=ADMIN)
    with pytest.raises(AuthenticationError, match="disabled"):
        env.auth.keys.authenticate(token)
    env.auth.accounts.set_disabled(user.id, False, actor=ADMIN)
    env.auth.keys.authenticate(token)
