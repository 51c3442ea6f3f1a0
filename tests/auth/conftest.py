"""Identity and access on a real database (SQLite and PostgreSQL, see tests/conftest.py),
without the models and indexes of a whole stack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update

from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from mmstack.auth.service import Auth, open_auth
from mmstack.config.settings import AuthSettings, QuotaSettings, Settings
from mmstack.store import migrate
from mmstack.store.db import Database
from mmstack.store.models import LoginThrottle, User

ADMIN = Actor.local()
PASSWORD = "violet-Harbor-42-lanterns"


@dataclass
class Env:
    settings: Settings
    db: Database
    auth: Auth

    def user(self, username: str, role: Role = Role.DEVELOPER, *, team: str | None = None) -> User:
        kwargs: dict[str, Any] = {"team": team} if team is not None else {}
        user, _ = self.auth.accounts.create_user(
            username, role=role, actor=ADMIN, password=PASSWORD, **kwargs
        )
        return user

    def set_user(self, user_id: str, **values: Any) -> None:
        """Change a user's row directly (to move a lock into the past, say)."""
        with self.db.session(write=True) as session:
            session.execute(update(User).where(User.id == user_id).values(**values))

    def row(self, user_id: str) -> User:
        with self.db.session() as session:
            user = session.get(User, user_id)
            assert user is not None
            return user

    def failures(self, username: str, address: str | None = None) -> int:
        """Failed logins in a row under `username` from `address` (None: not known)."""
        with self.db.session() as session:
            row = session.get(LoginThrottle, (username, address or ""))
            return row.failures if row else 0

    def lock(self, username: str, until: float, address: str | None = None) -> None:
        """Set the lock of `username` from `address` directly (move it into the past)."""
        values = {"username": username, "address": address or "", "updated_at": time.time()}
        stmt = self.db.upsert(LoginThrottle).values(**values, failures=0, locked_until=until)
        with self.db.session(write=True) as session:
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["username", "address"], set_={"locked_until": until}
                )
            )

    def unlock(self, username: str, address: str | None = None) -> None:
        self.lock(username, time.time() - 1, address)


@contextmanager
def open_env(
    settings: Settings, *, auth: AuthSettings | None = None, quotas: QuotaSettings | None = None
) -> Iterator[Env]:
    if auth is not None or quotas is not None:
        settings = settings.model_copy(
            update={"auth": auth or settings.auth, "quotas": quotas or settings.quotas}
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    try:
        migrate.upgrade(db.engine)
        yield Env(settings, db, open_auth(db, settings.auth, settings.quotas, settings.data_dir))
    finally:
        db.dispose()


@pytest.fixture
def env(settings: Settings) -> Iterator[Env]:
    with open_env(settings) as opened:
        yield opened
