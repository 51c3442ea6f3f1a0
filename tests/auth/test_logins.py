"""Password logins, lockout, access tokens, sessions and refresh-token rotation."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select

from mmstack.auth.access_tokens import AccessTokens, deployment_key
from mmstack.auth.audit import Actor
from mmstack.auth.logins import WRONG_CREDENTIALS, TokenPair
from mmstack.auth.roles import ROLE_PERMISSIONS, Permission, Role
from mmstack.config.settings import AuthSettings, Settings
from mmstack.errors import AuthenticationError, RateLimitError
from mmstack.store.models import LoginSession
from tests.auth.conftest import ADMIN, PASSWORD, Env, open_env

NEW_PASSWORD = "copper-Meadow-77-kites"


def _key(env: Env) -> bytes:
    return deployment_key(None, env.settings.data_dir / "secrets" / "token-signing.key")


ADDRESS = "203.0.113.9"


def _login(env: Env, username: str = "alice", password: str = PASSWORD) -> TokenPair:
    return env.auth.logins.login(username, password, address=ADDRESS)


def _refused(env: Env, token: str, match: str | None = None) -> None:
    with pytest.raises(AuthenticationError, match=match):
        env.auth.logins.authenticate(token)


def _claims(pair: TokenPair, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "mmstack",
        "sub": pair.user_id,
        "sid": pair.session_id,
        "gen": 0,
        "iat": now,
        "exp": now + 600,
        "typ": "access",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_login_gives_a_token_for_the_user(env: Env) -> None:
    user = env.user("alice", Role.OPERATOR)
    pair = _login(env, "  Alice ")
    assert pair.user_id == user.id
    assert pair.refresh_token.startswith("mmr_")
    assert pair.expires_at - time.time() == pytest.approx(15 * 60, abs=5)
    principal = env.auth.logins.authenticate(pair.access_token)
    assert (principal.user_id, principal.username, principal.role) == (
        user.id,
        "alice",
        Role.OPERATOR,
    )
    assert principal.permissions == ROLE_PERMISSIONS[Role.OPERATOR]
    assert principal.session_id == pair.session_id
    assert principal.key_id is None
    assert env.auth.authenticate(f"Bearer {pair.access_token}").user_id == user.id
    with env.db.session() as session:
        login = session.get(LoginSession, pair.session_id)
        assert login is not None
        assert login.address == "203.0.113.9"
        assert login.refresh_hash != pair.refresh_token  # stored hashed


def test_unknown_user_and_wrong_password_get_the_same_error(env: Env) -> None:
    env.user("alice")
    with pytest.raises(AuthenticationError) as wrong:
        _login(env, "alice", "not-the-Password-1")
    with pytest.raises(AuthenticationError) as unknown:
        _login(env, "mallory", PASSWORD)
    assert wrong.value.message == unknown.value.message == WRONG_CREDENTIALS
    assert type(wrong.value) is type(unknown.value)


def test_no_or_bad_credentials_header(env: Env) -> None:
    for header in (None, "", "Bearer ", "Basic abc", "Bearer not-a-token"):
        with pytest.raises(AuthenticationError):
            env.auth.authenticate(header)


def test_lockout_doubles_and_a_success_resets_it(settings: Settings) -> None:
    policy = AuthSettings(lockout_threshold=3, lockout_base_seconds=60, lockout_max_seconds=200)
    with open_env(settings, auth=policy) as env:
        env.user("alice")
        for _ in range(3):
            with pytest.raises(AuthenticationError, match=WRONG_CREDENTIALS):
                _login(env, password="wrong-Password-0")
        # Locked: even the right password is refused, with how long to wait.
        with pytest.raises(RateLimitError) as locked:
            _login(env)
        assert locked.value.retry_after == pytest.approx(60, abs=3)
        assert env.failures("alice", ADDRESS) == 3  # attempts while locked are not counted

        env.unlock("alice", ADDRESS)  # as if the 60 s had passed
        with pytest.raises(AuthenticationError):
            _login(env, password="wrong-Password-0")
        with pytest.raises(RateLimitError) as doubled:
            _login(env)
        assert doubled.value.retry_after == pytest.approx(120, abs=3)

        env.unlock("alice", ADDRESS)
        with pytest.raises(AuthenticationError):
            _login(env, password="wrong-Password-0")
        with pytest.raises(RateLimitError) as capped:
            _login(env)
        assert capped.value.retry_after == pytest.approx(200, abs=3)  # not 240

        env.unlock("alice", ADDRESS)
        _login(env)
        assert env.failures("alice", ADDRESS) == 0
        for _ in range(2):  # below the threshold again
            with pytest.raises(AuthenticationError):
                _login(env, password="wrong-Password-0")
        _login(env)


def test_successes_in_between_keep_an_account_open(settings: Settings) -> None:
    with open_env(settings, auth=AuthSettings(lockout_threshold=3)) as env:
        env.user("alice")
        for _ in range(3):
            for _ in range(2):
                with pytest.raises(AuthenticationError):
                    _login(env, password="wrong-Password-0")
            _login(env)


def test_names_that_exist_and_names_that_do_not_are_locked_alike(settings: Settings) -> None:
    """A lock would otherwise tell which names exist."""
    with open_env(settings, auth=AuthSettings(lockout_threshold=2)) as env:
        env.user("alice")
        answers: dict[str, list[str]] = {}
        for name in ("alice", "ghost"):
            for _ in range(3):
                try:
                    _login(env, name, "wrong-Password-0")
                except (AuthenticationError, RateLimitError) as exc:
                    answers.setdefault(name, []).append(f"{type(exc).__name__}: {exc.message}")
        assert answers["alice"] == answers["ghost"]
        assert answers["ghost"][-1].startswith("RateLimitError: too many failed logins")
        assert env.failures("ghost", ADDRESS) == 2


def test_a_lock_keeps_out_only_the_address_that_guessed(settings: Settings) -> None:
    """Guessing from one address cannot keep the account's owner out elsewhere."""
    with open_env(settings, auth=AuthSettings(lockout_threshold=3)) as env:
        env.user("alice")
        for _ in range(5):
            with pytest.raises((AuthenticationError, RateLimitError)):
                env.auth.logins.login("alice", "wrong-Password-0", address="198.51.100.6")
        with pytest.raises(RateLimitError):
            env.auth.logins.login("alice", PASSWORD, address="198.51.100.6")
        env.auth.logins.login("alice", PASSWORD, address="203.0.113.9")
        assert env.failures("alice", "198.51.100.6") == 3
        assert env.failures("alice", "203.0.113.9") == 0


def test_lockout_can_be_lifted_by_a_password_reset(settings: Settings) -> None:
    with open_env(settings, auth=AuthSettings(lockout_threshold=1)) as env:
        user = env.user("alice")
        with pytest.raises(AuthenticationError):
            _login(env, password="wrong-Password-0")
        with pytest.raises(RateLimitError):
            _login(env)
        env.auth.accounts.set_password(user.id, NEW_PASSWORD, actor=ADMIN)
        _login(env, password=NEW_PASSWORD)


def test_disabled_user_cannot_log_in(env: Env) -> None:
    user = env.user("alice")
    env.auth.accounts.set_disabled(user.id, True, actor=ADMIN)
    with pytest.raises(AuthenticationError, match="disabled"):
        _login(env)
    env.auth.accounts.set_disabled(user.id, False, actor=ADMIN)
    _login(env)


def test_expired_access_token(env: Env) -> None:
    env.user("alice")
    pair = _login(env)
    expired = AccessTokens(_key(env), lifetime_seconds=-30)
    token, _ = expired.issue(pair.user_id, pair.session_id, 0)
    _refused(env, token, "expired")
    crafted = jwt.encode(_claims(pair, exp=int(time.time()) - 5), _key(env), algorithm="HS256")
    _refused(env, crafted, "expired")
    # The same claims unexpired pass: the key and the claims are right.
    fine = jwt.encode(_claims(pair), _key(env), algorithm="HS256")
    assert env.auth.logins.authenticate(fine).session_id == pair.session_id


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_tampered_access_tokens(env: Env) -> None:
    env.user("alice")
    other = env.user("bob")
    pair = _login(env)
    header, payload, signature = pair.access_token.split(".")
    _refused(env, f"{header}.{payload}.{_flip(signature, len(signature) // 2)}", "not valid")
    _refused(env, f"{header}.{_flip(payload, 5)}.{signature}", "not valid")
    # A payload naming another user, under the original signature.
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = other.id
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _refused(env, f"{header}.{forged}.{signature}", "not valid")
    _refused(env, f"{header}.{payload}.", "not valid")
    none_alg = jwt.encode(_claims(pair), "", algorithm="none")
    _refused(env, none_alg, "not valid")
    env.auth.logins.authenticate(pair.access_token)


def test_token_signed_with_another_key(env: Env) -> None:
    env.user("alice")
    pair = _login(env)
    _refused(env, jwt.encode(_claims(pair), b"k" * 32, algorithm="HS256"), "not valid")


def test_token_claims_must_be_right(env: Env) -> None:
    env.user("alice")
    bob = env.user("bob")
    pair = _login(env)
    key = _key(env)
    for claims in (
        _claims(pair, typ="refresh"),
        _claims(pair, iss="someone-else"),
        _claims(pair, gen="0"),
        _claims(pair, typ=None),
        _claims(pair, sid=None),
        _claims(pair, sub=bob.id),  # another user's id on this user's session
        _claims(pair, sid="sess_unknown"),
        _claims(pair, gen=1),  # a generation this user's sessions never had
    ):
        token = jwt.encode(claims, key, algorithm="HS256")
        with pytest.raises(AuthenticationError):
            env.auth.logins.authenticate(token)


def test_logout_ends_the_session(env: Env) -> None:
    env.user("alice")
    first, second = _login(env), _login(env)
    env.auth.logins.logout(first.session_id, actor=Actor(first.user_id))
    _refused(env, first.access_token, "ended")
    with pytest.raises(AuthenticationError):
        env.auth.logins.refresh(first.refresh_token, address=None)
    env.auth.logins.authenticate(second.access_token)  # the other login stands


def test_logout_everywhere(env: Env) -> None:
    env.user("alice")
    first, second = _login(env), _login(env)
    env.auth.logins.logout(first.session_id, actor=Actor(first.user_id), everywhere=True)
    for pair in (first, second):
        _refused(env, pair.access_token, "ended")
        with pytest.raises(AuthenticationError):
            env.auth.logins.refresh(pair.refresh_token, address=None)
    env.auth.logins.authenticate(_login(env).access_token)


def test_password_reset_ends_every_session(env: Env) -> None:
    user = env.user("alice")
    pairs = [_login(env), _login(env)]
    env.auth.accounts.set_password(user.id, NEW_PASSWORD, actor=ADMIN)
    for pair in pairs:
        _refused(env, pair.access_token, "ended")
        with pytest.raises(AuthenticationError):
            env.auth.logins.refresh(pair.refresh_token, address=None)
    with pytest.raises(AuthenticationError):
        _login(env)
    env.auth.logins.authenticate(_login(env, password=NEW_PASSWORD).access_token)


def test_own_password_change_needs_the_current_one(env: Env) -> None:
    user = env.user("alice")
    pair = _login(env)
    with pytest.raises(AuthenticationError, match="current password"):
        env.auth.accounts.change_own_password(
            user.id, "not-the-Password-1", NEW_PASSWORD, actor=Actor(user.id)
        )
    env.auth.logins.authenticate(pair.access_token)  # nothing changed
    env.auth.accounts.change_own_password(user.id, PASSWORD, NEW_PASSWORD, actor=Actor(user.id))
    _refused(env, pair.access_token, "ended")
    with pytest.raises(AuthenticationError):
        _login(env)
    _login(env, password=NEW_PASSWORD)


def test_disabling_ends_every_session_for_good(env: Env) -> None:
    user = env.user("alice")
    pair = _login(env)
    env.auth.accounts.set_disabled(user.id, True, actor=ADMIN)
    _refused(env, pair.access_token, "ended")
    with pytest.raises(AuthenticationError):
        env.auth.logins.refresh(pair.refresh_token, address=None)
    env.auth.accounts.set_disabled(user.id, False, actor=ADMIN)
    _refused(env, pair.access_token)  # enabling again does not bring old logins back
    with pytest.raises(AuthenticationError):
        env.auth.logins.refresh(pair.refresh_token, address=None)


def test_role_change_applies_to_current_sessions(env: Env) -> None:
    user = env.user("alice", Role.DEVELOPER)
    pair = _login(env)
    assert env.auth.logins.authenticate(pair.access_token).can(Permission.WRITE)
    env.auth.accounts.set_role(user.id, Role.VIEWER, actor=ADMIN)
    assert not env.auth.logins.authenticate(pair.access_token).can(Permission.WRITE)


def test_refresh_rotates_the_refresh_token(env: Env) -> None:
    env.user("alice")
    first = _login(env)
    second = env.auth.logins.refresh(first.refresh_token, address=None)
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    assert env.auth.logins.authenticate(second.access_token).session_id == first.session_id
    third = env.auth.logins.refresh(second.refresh_token, address=None)
    env.auth.logins.authenticate(third.access_token)
    with pytest.raises(AuthenticationError, match="not valid"):
        env.auth.logins.refresh("mmr_made-up", address=None)


def test_a_spent_refresh_token_used_again_ends_the_session(env: Env) -> None:
    env.user("alice")
    first = _login(env)
    second = env.auth.logins.refresh(first.refresh_token, address=None)
    with pytest.raises(AuthenticationError, match="not valid"):
        env.auth.logins.refresh(first.refresh_token, address=None)  # stolen and replayed
    with pytest.raises(AuthenticationError):
        env.auth.logins.refresh(second.refresh_token, address=None)
    _refused(env, second.access_token, "ended")
    _refused(env, first.access_token, "ended")
    with env.db.session() as session:
        login = session.scalar(select(LoginSession).where(LoginSession.id == first.session_id))
        assert login is not None
        assert login.revoked_at is not None


def test_an_expired_session_cannot_be_refreshed(env: Env) -> None:
    env.user("alice")
    pair = _login(env)
    with env.db.session(write=True) as session:
        login = session.get(LoginSession, pair.session_id)
        assert login is not None
        login.expires_at = int(time.time()) - 1
    with pytest.raises(AuthenticationError, match="ended"):
        env.auth.logins.refresh(pair.refresh_token, address=None)
    _refused(env, pair.access_token, "ended")


def test_deployment_key_is_kept_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "key"
    key = deployment_key(None, path)
    assert len(key) == 32
    assert deployment_key(None, path) == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert deployment_key("x" * 40, path) == b"x" * 40
    with pytest.raises(ValueError, match="at least 32 bytes"):
        AccessTokens(b"short", lifetime_seconds=60)
