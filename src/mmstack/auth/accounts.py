"""Users and teams: create, list, change role, disable, set passwords; the first admin."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Final, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mmstack.auth.audit import Actor, AuditLog
from mmstack.auth.passwords import check_policy, hash_password, verify_password
from mmstack.auth.quotas import check_quota_overrides
from mmstack.auth.roles import Role
from mmstack.config.settings import AuthSettings, read_secret_file
from mmstack.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
)
from mmstack.store import accounts as rows
from mmstack.store.db import Database
from mmstack.store.logins import forget_failures_of_user, revoke_logins
from mmstack.store.models import DEFAULT_TEAM_ID, Team, User

# Usernames are stored in lower case; teams as named (spaces inside, not at the ends).
USERNAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"
TEAM_NAME_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,126}[A-Za-z0-9._-])?$"
_USERNAME: Final = re.compile(USERNAME_PATTERN)
_TEAM_NAME: Final = re.compile(TEAM_NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class FirstAdmin:
    username: str
    password: str | None  # generated: shown once, then only its hash exists
    source: Literal["generated", "environment", "file"]


def generated_password() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 bits


def end_sessions(session: Session, user: User) -> None:
    """Every login of the user ends: its refresh tokens and access tokens stop working."""
    user.session_generation += 1
    revoke_logins(session, user.id, at=int(time.time()))


class AccountService:
    def __init__(self, db: Database, audit: AuditLog, settings: AuthSettings) -> None:
        self._db = db
        self._audit = audit
        self._settings = settings

    # Users

    def create_user(
        self,
        username: str,
        *,
        role: Role,
        actor: Actor,
        team: str = DEFAULT_TEAM_ID,
        password: str | None = None,
        change_due: bool = True,
    ) -> tuple[User, str | None]:
        """A new user; without `password` one is generated and returned (show it once).
        With `change_due`, the user is asked to choose a password of their own."""
        if not _USERNAME.fullmatch(username):
            raise InvalidRequestError(
                "username must be 1 to 128 of a-z, 0-9 and . _ @ + -, starting with a letter "
                "or digit",
                param="username",
            )
        name = username.lower()
        shown = None
        if password is None:  # 144 random bits: the policy is for passwords people choose
            password = shown = generated_password()
        else:
            check_policy(password, username=name, min_length=self._settings.password_min_length)
        with self._db.session(write=True) as session:
            team_row = rows.find_team(session, team)
            user = User(
                username=name,
                team_id=team_row.id,
                role=Role(role),
                password_hash=hash_password(password),
                password_changed_at=int(time.time()),
                password_change_due=change_due,
            )
            session.add(user)
            try:
                session.flush()
            except IntegrityError:
                raise ConflictError(f"user '{name}' already exists", param="username") from None
            self._audit.record(
                "user.create",
                actor,
                target=user.id,
                detail={"username": name, "role": user.role, "team_id": team_row.id},
                session=session,
            )
        return user, shown

    def list_users(self, *, team: str | None = None) -> list[User]:
        with self._db.session() as session:
            return rows.users_of(session, team=team)

    def get_user(self, id_or_username: str) -> User:
        with self._db.session() as session:
            return rows.find_user(session, id_or_username)

    def set_role(self, id_or_username: str, role: Role, *, actor: Actor) -> User:
        with self._db.session(write=True) as session:
            user = rows.find_user(session, id_or_username)
            before = user.role
            if before == Role.ADMIN and role != Role.ADMIN:
                self._keep_an_admin(session, user)
            user.role = Role(role)
            self._audit.record(
                "user.role",
                actor,
                target=user.id,
                detail={"from": before, "to": user.role},
                session=session,
            )
        return user

    def set_disabled(self, id_or_username: str, disabled: bool, *, actor: Actor) -> User:
        """Disable (every login and key stops working) or enable a user."""
        with self._db.session(write=True) as session:
            user = rows.find_user(session, id_or_username)
            if disabled and user.role == Role.ADMIN:
                self._keep_an_admin(session, user)
            user.disabled = disabled
            if disabled:
                end_sessions(session, user)
            self._audit.record(
                "user.disable" if disabled else "user.enable",
                actor,
                target=user.id,
                session=session,
            )
        return user

    def set_quotas(
        self, id_or_username: str, quotas: dict[str, int] | None, *, actor: Actor
    ) -> User:
        """The user's own limits (None or empty: the configured defaults)."""
        checked = check_quota_overrides(quotas) or None
        with self._db.session(write=True) as session:
            user = rows.find_user(session, id_or_username)
            user.quotas = checked
            self._audit.record(
                "user.quotas", actor, target=user.id, detail={"quotas": checked}, session=session
            )
        return user

    def set_password(self, id_or_username: str, password: str, *, actor: Actor) -> None:
        """A new password (an admin's reset, or the user's own change after checking the
        old one); every login of the user ends, failed attempts are forgotten."""
        with self._db.session(write=True) as session:
            user = rows.find_user(session, id_or_username)
            check_policy(
                password, username=user.username, min_length=self._settings.password_min_length
            )
            user.password_hash = hash_password(password)
            user.password_changed_at = int(time.time())
            user.password_change_due = actor.user_id != user.id
            forget_failures_of_user(session, user.username)
            end_sessions(session, user)
            self._audit.record("user.password", actor, target=user.id, session=session)

    def change_own_password(self, user_id: str, current: str, new: str, *, actor: Actor) -> None:
        """The user's own change: the current password first."""
        with self._db.session() as session:
            user = rows.find_user(session, user_id)
        if not verify_password(user.password_hash, current):
            self._audit.record("user.password", actor, result="failure", target=user_id)
            raise AuthenticationError("the current password is not right", param="current_password")
        self.set_password(user_id, new, actor=actor)

    @staticmethod
    def _keep_an_admin(session: Session, leaving: User) -> None:
        others = rows.other_active_users_with_role(session, Role.ADMIN, other_than=leaving.id)
        if not others:
            raise ConflictError("this is the last active admin; make another admin first")

    # Teams

    def create_team(self, name: str, *, actor: Actor) -> Team:
        if not _TEAM_NAME.fullmatch(name):
            raise InvalidRequestError(
                "team name must be 1 to 128 letters, digits, spaces or . _ -, starting with "
                "a letter or digit and not ending with a space",
                param="name",
            )
        with self._db.session(write=True) as session:
            team = Team(name=name)
            session.add(team)
            try:
                session.flush()
            except IntegrityError:
                raise ConflictError(f"team '{name}' already exists", param="name") from None
            self._audit.record("team.create", actor, target=team.id, session=session)
        return team

    def list_teams(self) -> list[Team]:
        with self._db.session() as session:
            return rows.all_teams(session)

    def get_team(self, id_or_name: str) -> Team:
        with self._db.session() as session:
            return rows.find_team(session, id_or_name)

    # First run

    def ensure_first_admin(self) -> FirstAdmin | None:
        """With no user at all, make the first admin: its password from
        `auth.initial_admin_password`, from `auth.initial_admin_password_file`, or
        generated (returned to be shown once). None when users exist."""
        with self._db.session() as session:
            if rows.user_count(session):
                return None
        settings = self._settings
        source: Literal["generated", "environment", "file"]
        password: str | None
        if settings.initial_admin_password is not None:
            password, source = settings.initial_admin_password.get_secret_value(), "environment"
        elif settings.initial_admin_password_file is not None:
            try:
                password = read_secret_file(settings.initial_admin_password_file)
            except ValueError as exc:
                raise InvalidRequestError(f"the initial admin password file: {exc}") from None
            source = "file"
        else:
            password, source = None, "generated"  # made by create_user, due for a change
        try:
            user, shown = self.create_user(
                settings.initial_admin_username,
                role=Role.ADMIN,
                actor=Actor.local(),
                password=password,
                # The operator's own choice (environment or file) is not due for a change.
                change_due=password is None,
            )
        except ConflictError:
            return None  # another process made it first
        except InvalidRequestError as exc:
            raise InvalidRequestError(
                f"the initial admin password (from the {source}) is refused: {exc.message}"
            ) from None
        return FirstAdmin(user.username, shown, source)
