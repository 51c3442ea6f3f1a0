"""The service key a deployment generates (a stack-file secret) and hands to mmstack and to
the services calling it: registered at start, working at once, a new value revoking the
old one."""

from __future__ import annotations

import threading

import pytest
from pydantic import SecretStr

from mmstack.auth.audit import AuditQuery
from mmstack.auth.roles import Permission, Role
from mmstack.auth.secrets_format import new_api_key
from mmstack.auth.service import Auth, open_auth
from mmstack.config.settings import AuthSettings, Settings
from mmstack.errors import AuthenticationError, InvalidRequestError
from mmstack.store import migrate
from mmstack.store.db import Database


def _start(settings: Settings, key: str | None) -> tuple[Database, Auth]:
    auth_settings = AuthSettings(service_key=SecretStr(key) if key else None)
    db = Database(settings.sqlalchemy_url)
    migrate.upgrade(db.engine)
    return db, open_auth(db, auth_settings, settings.quotas, settings.data_dir)


def test_the_service_key_works_from_the_first_start_and_rotates(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _, first, _ = new_api_key()
    opened: list[Database] = []

    def start(key: str) -> Auth:
        db, auth = _start(settings, key)
        opened.append(db)
        return auth

    auth = start(first)
    try:
        principal = auth.authenticate(f"Bearer {first}")
        assert principal.username == "service"
        assert principal.role == Role.DEVELOPER
        assert {Permission.INFER, Permission.WRITE} <= principal.permissions
        # The next start with the same value changes nothing; with a new value (a
        # rotation), the new key works and the old one is revoked.
        again = start(first)
        assert again.authenticate(f"Bearer {first}").username == "service"
        _, second, _ = new_api_key()
        rotated = start(second)
        assert rotated.authenticate(f"Bearer {second}").username == "service"
        with pytest.raises(AuthenticationError, match="revoked"):
            rotated.authenticate(f"Bearer {first}")
        events = rotated.audit.query(AuditQuery(action="key.service"))
        assert len(events) == 2
        assert events[-1].detail["revoked"] == [first.split("_")[1]]
    finally:
        for db in opened:
            db.dispose()


def test_a_service_key_of_the_wrong_shape_stops_the_start(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    migrate.upgrade(db.engine)
    try:
        with pytest.raises(InvalidRequestError, match="mmk_<id>_<secret>"):
            open_auth(
                db,
                AuthSettings(service_key=SecretStr("not-a-key")),
                settings.quotas,
                settings.data_dir,
            )
    finally:
        db.dispose()


def test_processes_starting_together_register_the_service_key_once(settings: Settings) -> None:
    """API servers started at once on a new database each make sure of the key: the ones
    that lose the race to make the service user or the key find them made."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _, key, _ = new_api_key()
    db = Database(settings.sqlalchemy_url)
    migrate.upgrade(db.engine)
    db.dispose()
    starts: list[tuple[Database, Auth]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def start() -> None:
        try:
            started = _start(settings, key)
            with lock:
                starts.append(started)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        assert len(starts) == 4
        principal = starts[0][1].authenticate(f"Bearer {key}")
        assert principal.username == "service"
    finally:
        for db_of_start, _ in starts:
            db_of_start.dispose()
