"""Rate limits, daily quotas and usage accounting, per user and per key."""

from __future__ import annotations

import threading

import pytest

from mmstack.auth.principal import Principal
from mmstack.auth.quotas import DAY, Meter, QuotaService, today
from mmstack.config.settings import QuotaSettings
from mmstack.errors import RateLimitError
from mmstack.store.models import Usage
from tests.auth.conftest import ADMIN, PASSWORD, Env


def _login(env: Env, username: str) -> Principal:
    pair = env.auth.logins.login(username, PASSWORD, address=None)
    return env.auth.logins.authenticate(pair.access_token)


def _key(env: Env, username: str, **quotas: int) -> Principal:
    _, token = env.auth.keys.create(username, name="k", actor=ADMIN, quotas=quotas or None)
    return env.auth.keys.authenticate(token)


def test_requests_per_minute(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(requests_per_minute=3))
    env.user("alice")
    env.user("bob")
    alice = _login(env, "alice")
    for _ in range(3):
        quotas.check_request(alice)
    with pytest.raises(RateLimitError, match="3 requests per minute per user") as limited:
        quotas.check_request(alice)
    assert 0 < limited.value.retry_after <= 60
    # Through a key, the same user is still the same user.
    with pytest.raises(RateLimitError):
        quotas.check_request(_key(env, "alice"))
    quotas.check_request(_login(env, "bob"))  # others are not affected


def test_zero_means_no_limit(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(requests_per_minute=0))
    env.user("alice")
    alice = _login(env, "alice")
    for _ in range(50):
        quotas.check_request(alice)


def test_a_key_can_have_a_lower_limit_than_its_user(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(requests_per_minute=10))
    env.user("alice")
    limited = _key(env, "alice", requests_per_minute=2)
    other = _key(env, "alice")
    for _ in range(2):
        quotas.check_request(limited)
    with pytest.raises(RateLimitError, match="per key"):
        quotas.check_request(limited)
    quotas.check_request(other)  # the user and their other key go on
    quotas.check_request(_login(env, "alice"))


def test_a_key_cannot_raise_its_users_limit(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(requests_per_minute=2))
    env.user("alice")
    generous = _key(env, "alice", requests_per_minute=100)
    quotas.check_request(generous)
    quotas.check_request(generous)
    with pytest.raises(RateLimitError, match="per user"):
        quotas.check_request(generous)


def test_a_users_own_limit_replaces_the_default(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(requests_per_minute=100))
    user = env.user("alice")
    env.auth.accounts.set_quotas(user.id, {"requests_per_minute": 1}, actor=ADMIN)
    alice = _login(env, "alice")
    assert alice.user_quotas == {"requests_per_minute": 1}
    quotas.check_request(alice)
    with pytest.raises(RateLimitError):
        quotas.check_request(alice)
    key = _key(env, "alice")
    assert key.user_quotas == {"requests_per_minute": 1}
    with pytest.raises(RateLimitError):
        quotas.check_request(key)


def test_tokens_per_day(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(tokens_per_day=100))
    env.user("alice")
    env.user("bob")
    alice = _login(env, "alice")
    quotas.check_tokens(alice)
    quotas.record(alice, model="m", prompt_tokens=60, completion_tokens=30)
    quotas.check_tokens(alice)  # 90 of 100
    quotas.record(alice, model="other", prompt_tokens=5, completion_tokens=15)
    with pytest.raises(RateLimitError, match="100 tokens used up") as used_up:
        quotas.check_tokens(alice)
    assert 0 < used_up.value.retry_after <= DAY
    with pytest.raises(RateLimitError):  # what a key uses is the user's too
        quotas.check_tokens(_key(env, "alice"))
    quotas.check_tokens(_login(env, "bob"))


def test_yesterdays_tokens_do_not_count(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(tokens_per_day=100))
    user = env.user("alice")
    with env.db.session(write=True) as session:
        session.add(
            Usage(
                day=today() - 1,
                user_id=user.id,
                key_id="",
                model="m",
                requests=1,
                prompt_tokens=10_000,
                completion_tokens=0,
                upload_bytes=10_000,
            )
        )
    quotas.check_tokens(_login(env, "alice"))


def test_a_key_can_have_a_lower_token_quota(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(tokens_per_day=1000))
    env.user("alice")
    small = _key(env, "alice", tokens_per_day=50)
    other = _key(env, "alice")
    quotas.record(small, model="m", prompt_tokens=50)
    with pytest.raises(RateLimitError, match="50 tokens"):
        quotas.check_tokens(small)
    quotas.check_tokens(other)
    quotas.record(other, model="m", prompt_tokens=950)
    with pytest.raises(RateLimitError, match="1,000 tokens"):
        quotas.check_tokens(other)  # the user's 1000, spent through both keys


def test_a_key_token_quota_without_a_user_quota(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(tokens_per_day=0))
    env.user("alice")
    small = _key(env, "alice", tokens_per_day=10)
    quotas.record(small, model="m", completion_tokens=10)
    with pytest.raises(RateLimitError):
        quotas.check_tokens(small)
    quotas.check_tokens(_login(env, "alice"))


def test_upload_bytes_per_day(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(upload_bytes_per_day=1000))
    env.user("alice")
    alice = _login(env, "alice")
    meter = Meter(quotas, alice)
    meter.check_upload(600)
    meter.record_upload(600)
    meter.check_upload(400)  # exactly the limit
    with pytest.raises(RateLimitError, match="upload bytes") as over:
        meter.check_upload(401)
    assert over.value.retry_after > 0
    small = _key(env, "alice", upload_bytes_per_day=100)
    quotas.check_upload(small, 1)
    meter.record_upload(400)
    with pytest.raises(RateLimitError):
        quotas.check_upload(small, 1)  # the user's bytes are spent, whatever the key


def test_a_key_upload_quota(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings(upload_bytes_per_day=0))
    env.user("alice")
    small = _key(env, "alice", upload_bytes_per_day=100)
    quotas.check_upload(small, 100)
    with pytest.raises(RateLimitError):
        quotas.check_upload(small, 101)
    quotas.check_upload(_login(env, "alice"), 10_000)


def test_usage_rows_accumulate(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings())
    alice_user = env.user("alice")
    alice = _login(env, "alice")
    key = _key(env, "alice")
    for _ in range(3):
        quotas.record(key, model="qwen", prompt_tokens=10, completion_tokens=2)
    quotas.record(key, model="llama", prompt_tokens=1)
    quotas.record(alice, model="qwen", prompt_tokens=7)
    Meter(quotas, alice).record_upload(123)
    Meter(quotas, key).record_tokens("qwen", 1, 1)
    rows = quotas.usage(since_day=today(), until_day=today())
    got = {
        (r.user_id, r.key_id, r.model): (
            r.requests,
            r.prompt_tokens,
            r.completion_tokens,
            r.upload_bytes,
        )
        for r in rows
    }
    assert key.key_id is not None
    assert got == {
        (alice_user.id, key.key_id, "qwen"): (4, 31, 7, 0),
        (alice_user.id, key.key_id, "llama"): (1, 1, 0, 0),
        (alice_user.id, "", "qwen"): (1, 7, 0, 0),
        (alice_user.id, "", ""): (1, 0, 0, 123),
    }
    assert quotas.usage(since_day=today() + 1, until_day=today() + 9) == []
    assert quotas.usage(since_day=today(), until_day=today(), user_ids=["user_other"]) == []


def test_concurrent_records_are_all_counted(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings())
    env.user("alice")
    key = _key(env, "alice")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                quotas.record(key, model="m", prompt_tokens=1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    [row] = quotas.usage(since_day=today(), until_day=today())
    assert (row.requests, row.prompt_tokens) == (40, 40)


REDIS_URL = "redis://127.0.0.1:6379/15"


def test_redis_counters_are_shared_by_every_process(env: Env) -> None:
    """With `quotas.redis_url`, two API processes (two services here) count one limit."""
    settings = QuotaSettings(requests_per_minute=4, redis_url=REDIS_URL)
    first, second = QuotaService(env.db, settings), QuotaService(env.db, settings)
    env.user("carol")
    carol = _login(env, "carol")  # a new user id: counters of earlier runs do not apply
    for service in (first, second, first, second):
        service.check_request(carol)
    with pytest.raises(RateLimitError, match="4 requests per minute") as limited:
        second.check_request(carol)
    assert 0 < limited.value.retry_after <= 60
    with pytest.raises(RateLimitError):
        first.check_request(carol)
