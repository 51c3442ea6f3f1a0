"""Users, teams, the first admin and the password policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text

from mmstack.auth.accounts import FirstAdmin
from mmstack.auth.roles import Role
from mmstack.config.settings import AuthSettings, Settings
from mmstack.errors import ConflictError, InvalidRequestError, NotFoundError
from mmstack.store.models import User
from tests.auth.conftest import ADMIN, PASSWORD, Env, open_env


def _users(env: Env) -> list[User]:
    with env.db.session() as session:
        return list(session.scalars(select(User)))


def test_first_admin_gets_a_generated_password_shown_once(env: Env) -> None:
    first = env.auth.first_admin
    assert isinstance(first, FirstAdmin)
    assert first.source == "generated"
    assert first.username == "admin"
    assert first.password is not None
    assert len(first.password) >= 20
    [admin] = _users(env)
    assert admin.role == Role.ADMIN
    assert admin.username == "admin"
    assert admin.password_hash is not None
    assert admin.password_hash.startswith("$argon2id$")
    assert first.password not in admin.password_hash
    pair = env.auth.logins.login("admin", first.password, address=None)
    assert env.auth.logins.authenticate(pair.access_token).role == Role.ADMIN


def test_first_admin_from_the_configured_password(settings: Settings) -> None:
    auth = AuthSettings(
        initial_admin_username="Root", initial_admin_password=SecretStr("tidal-Quince-981")
    )
    with open_env(settings, auth=auth) as env:
        assert env.auth.first_admin == FirstAdmin("root", None, "environment")
        env.auth.logins.login("root", "tidal-Quince-981", address=None)
        with pytest.raises(Exception, match="wrong username or password"):
            env.auth.logins.login("admin", "tidal-Quince-981", address=None)


def test_first_admin_from_a_password_file(settings: Settings, tmp_path: Path) -> None:
    secret = tmp_path / "admin-password"
    secret.write_text("granite-Otter-5150\n")  # a trailing newline, as editors write
    with open_env(settings, auth=AuthSettings(initial_admin_password_file=secret)) as env:
        assert env.auth.first_admin == FirstAdmin("admin", None, "file")
        env.auth.logins.login("admin", "granite-Otter-5150", address=None)


def test_unreadable_password_file_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with (
        pytest.raises(InvalidRequestError, match="initial admin password file"),
        open_env(settings, auth=AuthSettings(initial_admin_password_file=missing)),
    ):
        pass


def test_first_admin_is_made_only_when_there_are_no_users(settings: Settings) -> None:
    with open_env(settings) as env:
        assert env.auth.first_admin is not None
        assert env.auth.accounts.ensure_first_admin() is None
    configured = AuthSettings(initial_admin_password=SecretStr("other-Pass-phrase-7"))
    with open_env(settings, auth=configured) as again:
        assert again.auth.first_admin is None
        assert [u.username for u in _users(again)] == ["admin"]
        with pytest.raises(Exception, match="wrong username or password"):
            again.auth.logins.login("admin", "other-Pass-phrase-7", address=None)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short-1x", "at least 12"),
        ("my-carol-password-9", "must not contain the username"),
        ("xxCAROLxx-1234", "must not contain the username"),
        ("password1234", "too easy"),
        ("PASSWORD1234", "too easy"),
        ("abababababababab", "too easy"),
        ("aaaaaaaaaaaaaaaa", "too easy"),
        # Long enough, and on breach lists or built from what they are made of.
        ("Password123!", "too easy"),
        ("qwertyuiop123", "too easy"),
        ("iloveyou1234", "too easy"),
        ("Carol-2024-password", "must not contain the username"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_password_policy(env: Env, password: str, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        env.auth.accounts.create_user("carol", role=Role.VIEWER, actor=ADMIN, password=password)
    assert "carol" not in [u.username for u in _users(env)]
    user = env.user("carol")
    with pytest.raises(InvalidRequestError, match=message):
        env.auth.accounts.set_password(user.id, password, actor=ADMIN)


@pytest.mark.parametrize(
    "password",
    [
        "violet-Harbor-42-lanterns",
        "correct horse battery staple",
        "a8#kP2m!xQ9z",
        "a long passphrase that goes on well past seventy-two characters, as some do " * 3,
    ],
)
def test_strong_passwords_pass_the_policy(env: Env, password: str) -> None:
    user = env.user("carol")
    env.auth.accounts.set_password(user.id, password, actor=ADMIN)
    env.auth.logins.login("carol", password, address=None)


def test_passwords_are_stored_as_argon2id(env: Env) -> None:
    user = env.user("dave")
    row = env.row(user.id)
    assert row.password_hash is not None
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    with env.db.engine.connect() as conn:
        dumped = repr(conn.execute(text("SELECT * FROM users")).all())
    assert PASSWORD not in dumped


def test_created_user_without_password_gets_a_generated_one(env: Env) -> None:
    _user, shown = env.auth.accounts.create_user("erin", role=Role.VIEWER, actor=ADMIN)
    assert shown is not None
    assert len(shown) >= 20
    env.auth.logins.login("erin", shown, address=None)


def test_usernames_are_checked_and_unique(env: Env) -> None:
    with pytest.raises(InvalidRequestError, match="username"):
        env.auth.accounts.create_user("has space", role=Role.VIEWER, actor=ADMIN, password=PASSWORD)
    env.user("Frank")
    assert env.auth.accounts.get_user("frank").username == "frank"
    with pytest.raises(ConflictError):
        env.user("FRANK")
    with pytest.raises(NotFoundError):
        env.auth.accounts.get_user("nobody")
    with pytest.raises(NotFoundError):
        env.user("gina", team="no-such-team")


def test_teams(env: Env) -> None:
    team = env.auth.accounts.create_team("Blue team", actor=ADMIN)
    with pytest.raises(ConflictError):
        env.auth.accounts.create_team("Blue team", actor=ADMIN)
    with pytest.raises(InvalidRequestError):
        env.auth.accounts.create_team("  ", actor=ADMIN)
    user = env.user("hank", team="Blue team")
    assert user.team_id == team.id
    assert [u.username for u in env.auth.accounts.list_users(team=team.id)] == ["hank"]
    assert {t.name for t in env.auth.accounts.list_teams()} == {"default", "Blue team"}


def test_the_last_admin_cannot_be_demoted_or_disabled(env: Env) -> None:
    with pytest.raises(ConflictError, match="last active admin"):
        env.auth.accounts.set_role("admin", Role.VIEWER, actor=ADMIN)
    with pytest.raises(ConflictError, match="last active admin"):
        env.auth.accounts.set_disabled("admin", True, actor=ADMIN)
    other = env.user("ivy", Role.ADMIN)
    env.auth.accounts.set_role("admin", Role.VIEWER, actor=ADMIN)
    assert env.auth.accounts.get_user("admin").role == Role.VIEWER
    with pytest.raises(ConflictError):
        env.auth.accounts.set_disabled(other.id, True, actor=ADMIN)


def test_user_quotas_are_checked(env: Env) -> None:
    user = env.user("jack")
    with pytest.raises(InvalidRequestError, match="unknown quota"):
        env.auth.accounts.set_quotas(user.id, {"requests_per_hour": 1}, actor=ADMIN)
    with pytest.raises(InvalidRequestError, match=">= 0"):
        env.auth.accounts.set_quotas(user.id, {"tokens_per_day": -1}, actor=ADMIN)
    env.auth.accounts.set_quotas(user.id, {"tokens_per_day": 10}, actor=ADMIN)
    assert env.row(user.id).quotas == {"tokens_per_day": 10}
    env.auth.accounts.set_quotas(user.id, {}, actor=ADMIN)
    assert env.row(user.id).quotas is None
