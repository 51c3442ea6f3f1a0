"""The usage report: the usage rows of a span of days summed by any of day, user, key,
team and model, with each group's latency percentiles read from its latency counts."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from mmstack.store.db import Database
from mmstack.store.models import Usage, UsageLatency, User

# Upper bounds (seconds) of the latency buckets; the last bucket is everything slower.
LATENCY_BOUNDS: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, math.inf)
Dimension = Literal["day", "user", "key", "team", "model"]
DIMENSIONS: Final[tuple[Dimension, ...]] = get_args(Dimension)


def latency_bucket(seconds: float) -> int:
    return bisect.bisect_left(LATENCY_BOUNDS, max(0.0, seconds))


def add_latency(
    session: Session,
    db: Database,
    *,
    day: int,
    user_id: str,
    key_id: str,
    model: str,
    seconds: float,
) -> None:
    """Count one request that took `seconds` in its day's latency bucket."""
    stmt = db.upsert(UsageLatency).values(
        day=day,
        user_id=user_id,
        key_id=key_id,
        model=model,
        bucket=latency_bucket(seconds),
        count=1,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "user_id", "key_id", "model", "bucket"],
        set_={"count": UsageLatency.count + 1},
    )
    session.execute(stmt)


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """One group's totals; the dimensions not grouped by are None."""

    day: int | None
    user_id: str | None
    username: str | None
    key_id: str | None
    team_id: str | None
    model: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    upload_bytes: int
    timed_requests: int  # the requests whose latency was counted (model calls)
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile of a histogram of LATENCY_BOUNDS counts, interpolated linearly
    within its bucket; a quantile in the open last bucket is that bucket's lower bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = LATENCY_BOUNDS[index - 1] if index else 0.0
            upper = LATENCY_BOUNDS[index]
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return LATENCY_BOUNDS[-2]


def _columns(table: Any, by: Sequence[Dimension]) -> list[ColumnElement[Any]]:
    named = {
        "day": table.day,
        "user": table.user_id,
        "key": table.key_id,
        "team": User.team_id,
        "model": table.model,
    }
    columns: list[ColumnElement[Any]] = [named[d].label(d) for d in by]
    if "user" in by:
        columns.append(User.username.label("username"))
    return columns


def _grouped(
    table: Any,
    by: Sequence[Dimension],
    sums: Sequence[Any],
    *,
    since_day: int,
    until_day: int,
    user_ids: list[str] | None,
) -> Select[Any]:
    """`sums` of `table`'s rows in the span, after the group's columns (`_columns`)."""
    columns = _columns(table, by)
    stmt = (
        select(*columns, *sums)
        .outerjoin(User, User.id == table.user_id)
        .where(table.day >= since_day, table.day <= until_day)
    )
    if user_ids is not None:
        stmt = stmt.where(table.user_id.in_(user_ids))
    return stmt.group_by(*columns) if columns else stmt


def usage_summaries(
    session: Session,
    *,
    since_day: int,
    until_day: int,
    by: Sequence[Dimension],
    user_ids: list[str] | None = None,
) -> list[UsageSummary]:
    """Usage of the days [since_day, until_day] (of `user_ids` only, when given) summed by
    the dimensions `by` (all of the span in one row when `by` is empty), in their order."""

    def grouped(table: Any, sums: Sequence[Any]) -> Select[Any]:
        return _grouped(
            table, by, sums, since_day=since_day, until_day=until_day, user_ids=user_ids
        )

    width = len(_fields(by))
    totals = grouped(
        Usage,
        [
            func.sum(Usage.requests),
            func.sum(Usage.prompt_tokens),
            func.sum(Usage.completion_tokens),
            func.sum(Usage.upload_bytes),
        ],
    )
    groups = {
        tuple(row[:width]): [int(v or 0) for v in row[width:]]
        for row in session.execute(totals)
        if row[width]  # an empty span sums to one row of NULLs
    }
    buckets = grouped(UsageLatency, [UsageLatency.bucket, func.sum(UsageLatency.count)])
    buckets = buckets.group_by(UsageLatency.bucket)
    latencies: dict[tuple[Any, ...], list[int]] = {}
    for row in session.execute(buckets):
        counts = latencies.setdefault(tuple(row[:width]), [0] * len(LATENCY_BOUNDS))
        counts[int(row[width])] += int(row[width + 1])
    summaries = []
    for key in sorted(groups, key=lambda k: tuple((v is None, "" if v is None else v) for v in k)):
        named = dict(zip(_fields(by), key, strict=True))
        requests, prompt, completion, upload = groups[key]
        counts = latencies.get(key, [0] * len(LATENCY_BOUNDS))
        summaries.append(
            UsageSummary(
                day=named.get("day"),
                user_id=named.get("user"),
                username=named.get("username"),
                key_id=named.get("key"),
                team_id=named.get("team"),
                model=named.get("model"),
                requests=requests,
                prompt_tokens=prompt,
                completion_tokens=completion,
                upload_bytes=upload,
                timed_requests=sum(counts),
                latency_p50=percentile(counts, 0.5),
                latency_p95=percentile(counts, 0.95),
                latency_p99=percentile(counts, 0.99),
            )
        )
    return summaries


def _fields(by: Sequence[Dimension]) -> list[str]:
    return [*by, "username"] if "user" in by else list(by)
