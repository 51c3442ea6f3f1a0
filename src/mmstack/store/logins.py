"""Queries about logins (the repository of `mmstack.auth`'s logins): login sessions and
their refresh tokens, the row checked for an access token on every request, and the
throttles that count failed logins."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, Row, bindparam, delete, select, update
from sqlalchemy.orm import Session

from mmstack.store.db import Database
from mmstack.store.models import LoginSession, LoginThrottle, User

_LOCKED_UNTIL: Final = select(LoginThrottle.locked_until).where(
    LoginThrottle.username == bindparam("name"), LoginThrottle.address == bindparam("address")
)


_SESSION_ROW: Final = (
    select(
        User.id,
        User.username,
        User.team_id,
        User.role,
        User.disabled,
        User.session_generation,
        User.quotas,
        LoginSession.revoked_at,
        LoginSession.expires_at,
    )
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(LoginSession.id == bindparam("session_id"), User.id == bindparam("user_id"))
)


# Login sessions


def login_by_refresh_hash(session: Session, refresh_hash: str) -> LoginSession | None:
    """The session whose current refresh token has this digest, locked until the
    transaction ends."""
    return session.scalar(
        select(LoginSession).where(LoginSession.refresh_hash == refresh_hash).with_for_update()
    )


def login_by_previous_refresh_hash(session: Session, refresh_hash: str) -> LoginSession | None:
    """The session whose spent refresh token had this digest."""
    return session.scalar(
        select(LoginSession).where(LoginSession.previous_refresh_hash == refresh_hash)
    )


def login_row(connection: Connection, session_id: str, user_id: str) -> Row[Any] | None:
    """The user and the session an access token names (Core columns, not the ORM entity:
    this runs on every request made with a token), or None: id, username, team_id, role,
    disabled, session_generation, quotas, revoked_at, expires_at."""
    return connection.execute(_SESSION_ROW, {"session_id": session_id, "user_id": user_id}).first()


def revoke_logins(session: Session, user_id: str, *, at: int) -> None:
    """Revoke every login session of the user not revoked yet."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )


# Throttles


def locked_until(session: Session, username: str, address: str) -> float | None:
    """Until when logins under this name from this address are locked out, if counted."""
    return session.scalar(_LOCKED_UNTIL, {"name": username, "address": address})


def count_failure(session: Session, db: Database, username: str, address: str, now: float) -> int:
    """Count one more failed login under this name from this address; how many in a row
    now (`db` gives its dialect's upsert)."""
    counted = (
        db.upsert(LoginThrottle)
        .values(username=username, address=address, failures=1, locked_until=0.0, updated_at=now)
        .on_conflict_do_update(
            index_elements=["username", "address"],
            set_={"failures": LoginThrottle.failures + 1, "updated_at": now},
        )
        .returning(LoginThrottle.failures)
    )
    return int(session.execute(counted).scalar_one())


def lock_out(session: Session, username: str, address: str, *, until: float) -> None:
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.username == username, LoginThrottle.address == address)
        .values(locked_until=until)
    )


def forget_stale_failures(session: Session, *, counted_before: float, now: float) -> None:
    """Forget the counts last changed before `counted_before` that hold no lock any more."""
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.updated_at < counted_before,
            LoginThrottle.locked_until < now,
        )
    )


def forget_failures(session: Session, username: str, address: str) -> None:
    """Forget the failed logins under this name from this address."""
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.username == username, LoginThrottle.address == address
        )
    )


def forget_failures_of_user(session: Session, username: str) -> None:
    """Forget the failed logins under this name, from every address."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))
