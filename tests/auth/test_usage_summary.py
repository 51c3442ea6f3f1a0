"""The usage summary: usage summed by day, user, key, team and model, with latency
percentiles read from per-request latency counts (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from mmstack.auth.quotas import QuotaService, today
from mmstack.config.settings import QuotaSettings
from mmstack.store.models import Usage, UsageLatency
from mmstack.store.retention import delete_usage_days
from mmstack.store.usage_report import LATENCY_BOUNDS, latency_bucket, percentile
from tests.auth.conftest import ADMIN, PASSWORD, Env


def test_buckets_and_percentiles() -> None:
    assert latency_bucket(0.0) == 0
    assert latency_bucket(0.1) == 0  # a bound belongs to the bucket it ends
    assert latency_bucket(0.11) == 1
    assert latency_bucket(1e9) == len(LATENCY_BOUNDS) - 1
    counts = [0] * len(LATENCY_BOUNDS)
    assert percentile(counts, 0.5) is None
    counts[3] = 10  # ten requests between 0.5 s and 1 s
    assert percentile(counts, 0.5) == pytest.approx(0.75)
    assert percentile(counts, 1.0) == pytest.approx(1.0)
    counts[-1] = 10  # and ten slower than the last bound
    assert percentile(counts, 0.25) == pytest.approx(0.75)
    assert percentile(counts, 0.99) == LATENCY_BOUNDS[-2]


def test_summaries_sum_and_time_each_group(env: Env) -> None:
    quotas = QuotaService(env.db, QuotaSettings())
    alice = env.user("alice")
    env.auth.accounts.create_team("research", actor=ADMIN)
    bob = env.user("bob", team="research")
    alice_key, _ = env.auth.keys.create("alice", name="k", actor=ADMIN)
    alice_by_key = env.auth.keys.authenticate(_)
    alice_login = env.auth.logins.authenticate(
        env.auth.logins.login("alice", PASSWORD, address=None).access_token
    )
    bob_login = env.auth.logins.authenticate(
        env.auth.logins.login("bob", PASSWORD, address=None).access_token
    )
    for seconds in (0.2, 0.2, 0.2, 3.0):
        quotas.record(
            alice_by_key, model="qwen", prompt_tokens=10, completion_tokens=5, seconds=seconds
        )
    quotas.record(alice_login, model="qwen", prompt_tokens=1, completion_tokens=1, seconds=30.0)
    quotas.record(alice_login, upload_bytes=1000)  # an upload: not timed
    quotas.record(bob_login, model="llama", prompt_tokens=7, completion_tokens=0, seconds=0.05)

    day = today()
    [total] = quotas.summaries(since_day=day, until_day=day, by=[])
    assert (total.requests, total.prompt_tokens, total.completion_tokens, total.upload_bytes) == (
        7,
        48,
        21,
        1000,
    )
    assert total.timed_requests == 6
    assert (total.day, total.user_id, total.model) == (None, None, None)

    by_model = {s.model: s for s in quotas.summaries(since_day=day, until_day=day, by=["model"])}
    assert set(by_model) == {"qwen", "llama", ""}
    qwen = by_model["qwen"]
    assert (qwen.requests, qwen.timed_requests) == (5, 5)
    # Three of five at 0.1-0.25 s: the median is in that bucket, the p95 in 20-40 s.
    assert qwen.latency_p50 is not None
    assert 0.1 < qwen.latency_p50 <= 0.25
    assert qwen.latency_p95 is not None
    assert 20.0 < qwen.latency_p95 <= 40.0
    assert by_model[""].latency_p50 is None  # uploads only

    by_user_key = quotas.summaries(since_day=day, until_day=day, by=["user", "key"])
    got = {(s.username, s.key_id): s.requests for s in by_user_key}
    assert got == {("alice", alice_key.id): 4, ("alice", ""): 2, ("bob", ""): 1}
    by_team = {
        s.team_id: s.requests for s in quotas.summaries(since_day=day, until_day=day, by=["team"])
    }
    assert by_team[bob.team_id] == 1
    assert by_team[alice.team_id] == 6

    only_bob = quotas.summaries(since_day=day, until_day=day, by=["user"], user_ids=[bob.id])
    assert [(s.username, s.requests) for s in only_bob] == [("bob", 1)]
    assert quotas.summaries(since_day=day + 1, until_day=day + 3, by=["day"]) == []

    # Retention deletes a day's latency counts with its usage rows.
    with env.db.session(write=True) as session:
        delete_usage_days(session, [day], day + 1)
    with env.db.session() as session:
        assert session.query(Usage).count() == 0
        assert session.query(UsageLatency).count() == 0
