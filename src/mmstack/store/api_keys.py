"""Queries about API keys (the repository of `mmstack.auth`'s keys): listing, revoking,
noting their use, and the row read to authenticate one on every request (`KeyLookup`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session

from mmstack.store.db import PlainQuery
from mmstack.store.models import ApiKey, User

# What authenticating a key reads of it and its user, on every request (a `PlainQuery`:
# about 11 us of CPU against 65 through SQLAlchemy's Connection, bench/auth.py).
_KEY_ROW: Final = (
    select(
        ApiKey.user_id,
        ApiKey.team_id,
        ApiKey.secret_hash,
        ApiKey.access,
        ApiKey.endpoints,
        ApiKey.collections,
        ApiKey.quotas.label("key_quotas"),
        ApiKey.expires_at,
        ApiKey.revoked_at,
        User.username,
        User.role,
        User.disabled,
        User.quotas.label("user_quotas"),
    )
    .join(User, User.id == ApiKey.user_id)
    .where(ApiKey.id == bindparam("key_id"))
)


class KeyLookup:
    """A key and its user by key id, the query compiled once for `engine`. The row, as the
    DB-API gives it (JSON columns: `json_value`): user_id, team_id, secret_hash, access,
    endpoints, collections, key_quotas, expires_at, revoked_at, username, role, disabled,
    user_quotas."""

    def __init__(self, engine: Engine) -> None:
        self._query = PlainQuery(engine, _KEY_ROW, runtime=["key_id"])

    def row(self, key_id: str) -> Any | None:
        found = self._query.rows({"key_id": key_id})
        return found[0] if found else None


def keys_of(
    session: Session, *, user_id: str | None = None, team_id: str | None = None
) -> list[ApiKey]:
    """The keys of the user and of the team, when given (else every key), oldest first."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if user_id is not None:
        stmt = stmt.where(ApiKey.user_id == user_id)
    if team_id is not None:
        stmt = stmt.where(ApiKey.team_id == team_id)
    return list(session.scalars(stmt))


def live_keys_named(session: Session, user_id: str, name: str, *, other_than: str) -> list[str]:
    """The ids of the user's keys called `name` not revoked, but key `other_than`."""
    return list(
        session.scalars(
            select(ApiKey.id).where(
                ApiKey.user_id == user_id,
                ApiKey.name == name,
                ApiKey.revoked_at.is_(None),
                ApiKey.id != other_than,
            )
        )
    )


def revoke_keys(session: Session, key_ids: Sequence[str], *, at: int) -> None:
    session.execute(update(ApiKey).where(ApiKey.id.in_(key_ids)).values(revoked_at=at))


def note_use(session: Session, key_id: str, *, at: int) -> None:
    """Set when the key was last used."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))
