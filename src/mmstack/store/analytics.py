"""Queries of the analytics: searches counted per day (top queries, queries that found
nothing) and ingestion as the collections' files record it (how many in each state,
failures by reason, files and chunks finished per day)."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from mmstack.store.db import Database
from mmstack.store.models import Collection, CollectionFile, FileStatus, SearchUsage

DAY: Final = 86_400
QUERY_CHARS: Final = 500  # a longer query is counted by its start
_SPACES: Final = re.compile(r"\s+")


def normalized_query(text: str) -> str:
    """The form a query is counted under: lower case, spaces collapsed, at most 500
    characters."""
    return _SPACES.sub(" ", text).strip().lower()[:QUERY_CHARS]


COUNTERS: Final = (
    "searches",
    "zero_results",
    "results",
    "seconds",
    "clicks",
    "clicked_searches",
    "click_rank_sum",
)


def add_counts(
    session: Session,
    db: Database,
    *,
    day: int,
    team_id: str,
    user_id: str,
    query: str,
    mode: str,
    counts: dict[str, float],
) -> None:
    """Add `counts` (COUNTERS, each left out is 0) to the day's row of the query."""
    values = {name: counts.get(name, 0) for name in COUNTERS}
    stmt = db.upsert(SearchUsage).values(
        day=day,
        team_id=team_id,
        user_id=user_id,
        query=normalized_query(query),
        mode=mode,
        **values,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "team_id", "user_id", "query", "mode"],
        set_={name: getattr(SearchUsage, name) + value for name, value in values.items() if value},
    )
    session.execute(stmt)


def search_counts(results: int, seconds: float) -> dict[str, float]:
    """One search's counts."""
    return {
        "searches": 1,
        "zero_results": 1 if results == 0 else 0,
        "results": results,
        "seconds": seconds,
    }


def click_counts(rank: int, first: bool) -> dict[str, float]:
    """One result opened, at `rank` (1 = first); `first`: the first opened of its search."""
    return {"clicks": 1, "clicked_searches": 1 if first else 0, "click_rank_sum": rank}


@dataclass(frozen=True, slots=True)
class QueryStats:
    query: str
    searches: int
    zero_results: int  # how many of the searches found nothing
    users: int
    mean_results: float
    mean_seconds: float
    clicks: int  # results opened from these searches' lists
    click_through: float  # the share of searches with a result opened
    mean_click_rank: float | None  # of the results opened (1 = the first)


def query_stats(
    session: Session,
    *,
    since_day: int,
    until_day: int,
    team_ids: list[str] | None = None,
    user_ids: list[str] | None = None,
    zero_only: bool = False,
    limit: int = 20,
) -> list[QueryStats]:
    """The most searched queries of the days [since_day, until_day] (with `zero_only`,
    those that found nothing at least once, by how often they did)."""
    searches = func.sum(SearchUsage.searches)
    zero = func.sum(SearchUsage.zero_results)
    stmt = (
        select(
            SearchUsage.query,
            searches,
            zero,
            # Those who searched it: a click alone (on a list of another day) is none.
            func.count(func.distinct(case((SearchUsage.searches > 0, SearchUsage.user_id)))),
            func.sum(SearchUsage.results),
            func.sum(SearchUsage.seconds),
            func.sum(SearchUsage.clicks),
            func.sum(SearchUsage.clicked_searches),
            func.sum(SearchUsage.click_rank_sum),
        )
        .where(SearchUsage.day >= since_day, SearchUsage.day <= until_day)
        .group_by(SearchUsage.query)
        .order_by((zero if zero_only else searches).desc(), SearchUsage.query)
        .limit(limit)
    )
    if team_ids is not None:
        stmt = stmt.where(SearchUsage.team_id.in_(team_ids))
    if user_ids is not None:
        stmt = stmt.where(SearchUsage.user_id.in_(user_ids))
    # Rows of results opened on a day the query was not searched have no searches.
    stmt = stmt.having((zero > 0) if zero_only else (searches > 0))
    found = []
    for query, count, zeros, users, results, seconds, clicks, clicked, ranks in session.execute(
        stmt
    ):
        count, clicks = int(count), int(clicks)
        found.append(
            QueryStats(
                query=query,
                searches=count,
                zero_results=int(zeros),
                users=int(users),
                mean_results=int(results) / count,
                mean_seconds=float(seconds) / count,
                clicks=clicks,
                click_through=int(clicked) / count,
                mean_click_rank=int(ranks) / clicks if clicks else None,
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class IngestionDay:
    day: int
    files: int
    chunks: int
    failed: int
    median_seconds: float | None  # from upload to its last state


@dataclass(frozen=True, slots=True)
class IngestionStats:
    by_status: dict[str, int]  # every file in the collections, now
    failures: dict[str, int]  # failed files of the span by error code
    days: list[IngestionDay]  # files that finished (completed or failed) each day


def ingestion_stats(
    session: Session, *, since_day: int, until_day: int, team_ids: list[str] | None = None
) -> IngestionStats:
    """How the collections' files stand, and those that finished in the span of days."""
    scoped = select(CollectionFile).join(Collection, Collection.id == CollectionFile.collection_id)
    if team_ids is not None:
        scoped = scoped.where(Collection.team_id.in_(team_ids))
    counted = scoped.with_only_columns(CollectionFile.status, func.count()).group_by(
        CollectionFile.status
    )
    by_status = {str(status): int(n) for status, n in session.execute(counted)}
    finished = scoped.with_only_columns(
        CollectionFile.status,
        CollectionFile.error_code,
        CollectionFile.chunk_count,
        CollectionFile.created_at,
        CollectionFile.updated_at,
    ).where(
        CollectionFile.status.in_([FileStatus.COMPLETED, FileStatus.FAILED]),
        CollectionFile.updated_at >= since_day * DAY,
        CollectionFile.updated_at < (until_day + 1) * DAY,
    )
    failures: dict[str, int] = defaultdict(int)
    per_day: dict[int, list[tuple[str, int, float]]] = defaultdict(list)
    for status, code, chunks, created, updated in session.execute(finished):
        if status == FileStatus.FAILED:
            failures[code or "unknown"] += 1
        per_day[int(updated) // DAY].append((str(status), int(chunks), float(updated - created)))
    days = [
        IngestionDay(
            day=day,
            files=len(items),
            chunks=sum(chunks for _, chunks, _ in items),
            failed=sum(1 for status, _, _ in items if status == FileStatus.FAILED),
            median_seconds=statistics.median(seconds for _, _, seconds in items),
        )
        for day, items in sorted(per_day.items())
    ]
    return IngestionStats(
        by_status=by_status,
        failures=dict(sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))),
        days=days,
    )
