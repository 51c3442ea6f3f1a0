"""What must hold when requests race (PostgreSQL runs them side by side; SQLite's writes
take turns): failed logins are all counted, a code or a refresh token is used once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pyotp
import pytest

from mmstack.auth.audit import Actor
from mmstack.auth.logins import TokenPair
from mmstack.auth.totp import STEP_SECONDS
from mmstack.config.settings import AuthSettings, Settings
from mmstack.errors import AuthenticationError, MMStackError
from tests.auth.conftest import PASSWORD, Env, open_env

T = TypeVar("T")
THREADS = 6


def _race(call: Callable[[], T]) -> tuple[list[T], list[MMStackError]]:
    """Run `call` in THREADS threads at once; what succeeded and what was refused."""
    barrier = threading.Barrier(THREADS)
    results: list[T] = []
    refused: list[MMStackError] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        barrier.wait()
        try:
            result = call()
        except MMStackError as exc:
            with lock:
                refused.append(exc)
        except BaseException as exc:  # reported by the assertion below
            with lock:
                unexpected.append(exc)
        else:
            with lock:
                results.append(result)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert unexpected == []
    return results, refused


def _enrol(env: Env) -> tuple[str, list[str]]:
    user = env.user("alice")
    enrolment = env.auth.mfa.begin_totp(user.id, actor=Actor(user.id))
    if time.time() % STEP_SECONDS > STEP_SECONDS - 3:  # keep clear of a step boundary
        time.sleep(STEP_SECONDS - time.time() % STEP_SECONDS + 0.1)
    code = pyotp.TOTP(enrolment.secret).now()
    return enrolment.secret, env.auth.mfa.confirm_totp(user.id, code, actor=Actor(user.id))


def test_parallel_wrong_passwords_are_all_counted(settings: Settings) -> None:
    policy = AuthSettings(lockout_threshold=100)
    with open_env(settings, auth=policy) as env:
        env.user("alice")

        def guess() -> None:
            env.auth.logins.login("alice", "wrong-Password-0", address=None)

        _, refused = _race(guess)
        assert len(refused) == THREADS
        assert all(isinstance(e, AuthenticationError) for e in refused)
        assert env.failures("alice") == THREADS


def test_a_recovery_code_used_in_parallel_works_once(settings: Settings) -> None:
    with open_env(settings) as env:
        _, codes = _enrol(env)

        def login() -> object:
            return env.auth.logins.login("alice", PASSWORD, address=None, recovery_code=codes[0])

        logged_in, _ = _race(login)
        assert len(logged_in) == 1


def test_a_totp_code_used_in_parallel_works_once(settings: Settings) -> None:
    with open_env(settings) as env:
        secret, _ = _enrol(env)
        code = pyotp.TOTP(secret).at(time.time() + STEP_SECONDS)  # the next step's

        def login() -> object:
            return env.auth.logins.login("alice", PASSWORD, address=None, totp_code=code)

        logged_in, _ = _race(login)
        assert len(logged_in) == 1


def test_a_refresh_token_used_in_parallel_gives_one_new_token(settings: Settings) -> None:
    with open_env(settings) as env:
        env.user("alice")
        pair = env.auth.logins.login("alice", PASSWORD, address=None)

        def refresh() -> TokenPair:
            return env.auth.logins.refresh(pair.refresh_token, address=None)

        refreshed, refused = _race(refresh)
        assert len(refreshed) == 1
        assert len(refused) == THREADS - 1
        # Presenting a spent token is taken as theft: the session ends for everyone.
        with pytest.raises(AuthenticationError):
            env.auth.logins.authenticate(refreshed[0].access_token)
