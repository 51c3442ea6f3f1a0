"""Queries of the analytics: searches counted per day (top queries, queries that found
nothing) and ingestion as the collections' files record it (how many in each state,
failures by reason, files and chunks finished per day)."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select
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


def add_search(
    session: Session,
    db: Database,
    *,
    day: int,
    team_id: str,
    user_id: str,
    query: str,
    mode: str,
    results: int,
    seconds: float,
) -> None:
    """Count one search in its day's row."""
    zero = 1 if results == 0 else 0
    stmt = db.upsert(SearchUsage).values(
        day=day,
        team_id=team_id,
        user_id=user_id,
        query=normalized_query(query),
        mode=mode,
        searches=1,
        zero_results=zero,
        results=results,
        seconds=seconds,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "team_id", "user_id", "query", "mode"],
        set_={
            "searches": SearchUsage.searches + 1,
            "zero_results": SearchUsage.zero_results + zero,
            "results": SearchUsage.results + results,
            "seconds": SearchUsage.seconds + seconds,
        },
    )
    session.execute(stmt)


@dataclass(frozen=True, slots=True)
class QueryStats:
    query: str
    searches: int
    zero_results: int  # how many of the searches found nothing
    users: int
    mean_results: float
    mean_seconds: float


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
            func.count(func.distinct(SearchUsage.user_id)),
            func.sum(SearchUsage.results),
            func.sum(SearchUsage.seconds),
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
    if zero_only:
        stmt = stmt.having(zero > 0)
    found = []
    for query, count, zeros, users, results, seconds in session.execute(stmt):
        count = int(count)
        found.append(
            QueryStats(
                query=query,
                searches=count,
                zero_results=int(zeros),
                users=int(users),
                mean_results=int(results) / count,
                mean_seconds=float(seconds) / count,
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
