"""Queries about users and teams (the repository of `mmstack.auth`'s accounts): finding
one by id or name, listing, counting."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.store.models import Team, User


def find_user(session: Session, id_or_username: str) -> User:
    """A user by id or by username (any case), or NotFoundError."""
    user = session.get(User, id_or_username) or session.scalar(
        select(User).where(User.username == id_or_username.lower())
    )
    if user is None:
        raise NotFoundError(f"user '{id_or_username}' not found", param="user")
    return user


def find_team(session: Session, id_or_name: str) -> Team:
    """A team by id or by name, or NotFoundError."""
    team = session.get(Team, id_or_name) or session.scalar(
        select(Team).where(Team.name == id_or_name)
    )
    if team is None:
        raise NotFoundError(f"team '{id_or_name}' not found", param="team")
    return team


def user_named_for_update(session: Session, username: str) -> User | None:
    """The user called `username` (stored in lower case), locked (PostgreSQL) until the
    transaction ends."""
    return session.scalar(select(User).where(User.username == username).with_for_update())


def users_of(session: Session, *, team: str | None = None) -> list[User]:
    """Every user (of team `team`, when given), oldest first."""
    stmt = select(User).order_by(User.created_at, User.username)
    if team is not None:
        stmt = stmt.where(User.team_id == team)
    return list(session.scalars(stmt))


def user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def other_active_users_with_role(session: Session, role: str, *, other_than: str) -> int:
    """How many users not disabled, other than user `other_than`, have `role`."""
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == role, User.disabled.is_(False), User.id != other_than)
        )
        or 0
    )


def all_teams(session: Session) -> list[Team]:
    """Every team, oldest first."""
    return list(session.scalars(select(Team).order_by(Team.created_at, Team.name)))
