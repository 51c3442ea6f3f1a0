"""TOTP enrolment, second-factor logins, replay protection and recovery codes."""

from __future__ import annotations

import time

import pyotp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from mmstack.auth.audit import Actor
from mmstack.auth.logins import MfaRequiredError
from mmstack.auth.mfa import TotpEnrolment
from mmstack.auth.totp import STEP_SECONDS
from mmstack.errors import AuthenticationError, ConflictError, InvalidRequestError
from mmstack.store.models import RecoveryCode
from tests.auth.conftest import PASSWORD, Env, open_env


def _steady() -> None:
    """Keep clear of a 30 s boundary, so 'this step' and 'the next' stay what they were."""
    if time.time() % STEP_SECONDS > STEP_SECONDS - 3:
        time.sleep(STEP_SECONDS - time.time() % STEP_SECONDS + 0.1)


def _code(secret: str, steps_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + steps_from_now * STEP_SECONDS)


def _enrol(env: Env, username: str = "alice") -> tuple[str, str, list[str]]:
    """A user with TOTP on: (user id, secret, recovery codes). The current step's code is
    spent by the confirmation."""
    user = env.user(username)
    actor = Actor(user.id)
    enrolment = env.auth.mfa.begin_totp(user.id, actor=actor)
    _steady()
    codes = env.auth.mfa.confirm_totp(user.id, _code(enrolment.secret), actor=actor)
    return user.id, enrolment.secret, codes


def test_enrolment_gives_secret_uri_and_qr_code(env: Env) -> None:
    user = env.user("alice")
    enrolment = env.auth.mfa.begin_totp(user.id, actor=Actor(user.id))
    assert isinstance(enrolment, TotpEnrolment)
    assert len(enrolment.secret) >= 16
    assert pyotp.TOTP(enrolment.secret).now().isdigit()
    assert enrolment.uri.startswith("otpauth://totp/")
    assert f"secret={enrolment.secret}" in enrolment.uri
    assert "issuer=mmstack" in enrolment.uri
    assert "alice" in enrolment.uri
    assert enrolment.qr_svg.startswith("data:image/svg+xml")
    # Not on until confirmed: the password alone still logs in.
    env.auth.logins.login("alice", PASSWORD, address=None)


def test_confirmation_needs_a_right_code(env: Env) -> None:
    user = env.user("alice")
    actor = Actor(user.id)
    with pytest.raises(InvalidRequestError, match="start the enrolment"):
        env.auth.mfa.confirm_totp(user.id, "123456", actor=actor)
    enrolment = env.auth.mfa.begin_totp(user.id, actor=actor)
    _steady()
    right = _code(enrolment.secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for bad in (wrong, "abcdef", "12345", ""):
        with pytest.raises(InvalidRequestError, match="not right"):
            env.auth.mfa.confirm_totp(user.id, bad, actor=actor)
    assert not env.row(user.id).totp_enabled
    codes = env.auth.mfa.confirm_totp(user.id, right, actor=actor)
    assert len(codes) == 10 == len(set(codes))
    assert env.row(user.id).totp_enabled
    assert env.auth.mfa.recovery_codes_left(user.id) == 10
    with env.db.session() as session:
        stored = set(session.scalars(select(RecoveryCode.code_hash)))
    assert not stored & set(codes)  # only their hashes are kept
    with pytest.raises(ConflictError):
        env.auth.mfa.begin_totp(user.id, actor=actor)


def test_login_needs_the_second_factor(env: Env) -> None:
    user_id, secret, _ = _enrol(env)
    with pytest.raises(MfaRequiredError) as required:
        env.auth.logins.login("alice", PASSWORD, address=None)
    assert required.value.code == "mfa_required"
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        env.auth.logins.login("alice", "wrong-Password-0", address=None, totp_code=_code(secret, 1))
    with pytest.raises(AuthenticationError, match="code is not right"):
        env.auth.logins.login("alice", PASSWORD, address=None, totp_code="000000")
    pair = env.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(secret, 1))
    assert env.auth.logins.authenticate(pair.access_token).user_id == user_id


def test_a_code_works_once(env: Env) -> None:
    _, secret, _ = _enrol(env)
    # The confirmation spent this step's code.
    with pytest.raises(AuthenticationError, match="code is not right"):
        env.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(secret))
    code = _code(secret, 1)
    env.auth.logins.login("alice", PASSWORD, address=None, totp_code=code)
    with pytest.raises(AuthenticationError, match="code is not right"):
        env.auth.logins.login("alice", PASSWORD, address=None, totp_code=code)
    # Nor an older one once a later one was used.
    with pytest.raises(AuthenticationError, match="code is not right"):
        env.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(secret, -1))


def test_codes_too_far_from_now_are_refused(env: Env) -> None:
    _, secret, _ = _enrol(env)
    for steps in (2, 5, -3):
        with pytest.raises(AuthenticationError):
            env.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(secret, steps))


def test_a_recovery_code_works_once(env: Env) -> None:
    user_id, _, codes = _enrol(env)
    typed = codes[0].upper().replace("-", " ")  # as someone might type it
    env.auth.logins.login("alice", PASSWORD, address=None, recovery_code=typed)
    assert env.auth.mfa.recovery_codes_left(user_id) == 9
    with pytest.raises(AuthenticationError, match="code is not right"):
        env.auth.logins.login("alice", PASSWORD, address=None, recovery_code=codes[0])
    with pytest.raises(AuthenticationError):
        env.auth.logins.login("alice", PASSWORD, address=None, recovery_code="aaaaa-bbbbb")
    env.auth.logins.login("alice", PASSWORD, address=None, recovery_code=codes[1])


def test_recovery_codes_are_per_user(env: Env) -> None:
    _, _, alice_codes = _enrol(env, "alice")
    _enrol(env, "bob")
    with pytest.raises(AuthenticationError):
        env.auth.logins.login("bob", PASSWORD, address=None, recovery_code=alice_codes[0])


def test_wrong_codes_count_towards_the_lockout(env: Env) -> None:
    _enrol(env)
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            env.auth.logins.login("alice", PASSWORD, address=None, totp_code="000000")
    assert env.failures("alice") == 2


def test_disable_needs_the_password_and_a_code(env: Env) -> None:
    user_id, secret, codes = _enrol(env)
    actor = Actor(user_id)
    with pytest.raises(AuthenticationError):
        env.auth.mfa.disable_totp(
            user_id,
            password="wrong-Password-0",
            code=_code(secret, 1),
            recovery_code=None,
            actor=actor,
        )
    with pytest.raises(AuthenticationError):
        env.auth.mfa.disable_totp(
            user_id, password=PASSWORD, code="000000", recovery_code=None, actor=actor
        )
    with pytest.raises(AuthenticationError):
        env.auth.mfa.disable_totp(
            user_id, password=PASSWORD, code=None, recovery_code=None, actor=actor
        )
    assert env.row(user_id).totp_enabled
    env.auth.mfa.disable_totp(
        user_id, password=PASSWORD, code=_code(secret, 1), recovery_code=None, actor=actor
    )
    row = env.row(user_id)
    assert not row.totp_enabled
    assert row.totp_secret is None
    assert env.auth.mfa.recovery_codes_left(user_id) == 0
    env.auth.logins.login("alice", PASSWORD, address=None)  # the password alone again
    with pytest.raises(ConflictError):
        env.auth.mfa.disable_totp(
            user_id, password=PASSWORD, code=None, recovery_code=codes[0], actor=actor
        )


def test_disable_with_a_recovery_code(env: Env) -> None:
    user_id, _, codes = _enrol(env)
    env.auth.mfa.disable_totp(
        user_id, password=PASSWORD, code=None, recovery_code=codes[3], actor=Actor(user_id)
    )
    assert not env.row(user_id).totp_enabled


def test_new_recovery_codes_replace_the_old_ones(env: Env) -> None:
    user_id, secret, old = _enrol(env)
    actor = Actor(user_id)
    with pytest.raises(AuthenticationError):
        env.auth.mfa.new_recovery_codes(user_id, "000000", actor=actor)
    new = env.auth.mfa.new_recovery_codes(user_id, _code(secret, 1), actor=actor)
    assert len(new) == 10
    assert not set(new) & set(old)
    assert env.auth.mfa.recovery_codes_left(user_id) == 10
    with pytest.raises(AuthenticationError):
        env.auth.logins.login("alice", PASSWORD, address=None, recovery_code=old[0])
    env.auth.logins.login("alice", PASSWORD, address=None, recovery_code=new[0])


def test_enrolling_again_after_turning_it_off(env: Env) -> None:
    user_id, secret, _ = _enrol(env)
    actor = Actor(user_id)
    env.auth.mfa.disable_totp(
        user_id, password=PASSWORD, code=_code(secret, 1), recovery_code=None, actor=actor
    )
    again = env.auth.mfa.begin_totp(user_id, actor=actor)
    assert again.secret != secret
    _steady()
    env.auth.mfa.confirm_totp(user_id, _code(again.secret), actor=actor)
    with pytest.raises(AuthenticationError):  # the old app's codes no longer work
        env.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(secret, 1))
    env.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(again.secret, 1))


def test_totp_secrets_are_stored_encrypted(env: Env) -> None:
    """A copy of the database (a backup, a dump) gives no second factor."""
    user_id, secret, _ = _enrol(env)
    stored = env.row(user_id).totp_secret
    assert stored is not None
    assert stored.startswith("enc1:")
    assert secret not in stored
    _steady()
    env.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(secret, 1))


def test_secrets_stored_in_clear_are_sealed_at_the_next_start(env: Env) -> None:
    user_id, secret, _ = _enrol(env)
    env.set_user(user_id, totp_secret=secret)  # as a version before encryption left it
    with open_env(env.settings) as restarted:
        stored = restarted.row(user_id).totp_secret
        assert stored is not None
        assert stored.startswith("enc1:")
        _steady()
        restarted.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(secret, 1))


def test_another_data_key_takes_no_code_but_a_recovery_code(env: Env) -> None:
    _, secret, codes = _enrol(env)
    other = env.settings.auth.model_copy(update={"data_key": SecretStr("another-key" * 4)})
    with open_env(env.settings, auth=other) as elsewhere:
        _steady()
        with pytest.raises(AuthenticationError, match="code is not right"):
            elsewhere.auth.logins.login("alice", PASSWORD, address=None, totp_code=_code(secret, 1))
        elsewhere.auth.logins.login("alice", PASSWORD, address=None, recovery_code=codes[0])
