"""Analytics: the most searched queries and those that found nothing, and how ingestion
goes (files by state, failures by reason, files and chunks finished per day). Searches:
one's own; an operator's team's; everyone's (admins). Ingestion: one's team's
collections; everyone's (admins)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from mmstack.api.deps import AnalyticsDep, AuthDep, PrincipalDep, authorize
from mmstack.api.routes.usage import EPOCH, SINCE, UNTIL, Day, day_number, day_span, visible_users
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import Permission

router = APIRouter(
    prefix="/api/stats", tags=["stats"], dependencies=[Depends(authorize(None, Permission.READ))]
)


class QueryStatsOut(BaseModel):
    query: str  # lower case, spaces collapsed
    searches: int
    zero_results: int  # searches that found nothing
    users: int
    mean_results: float
    mean_seconds: float
    clicks: int  # results opened from these searches (POST /api/search/clicks)
    click_through: float  # the share of the searches with a result opened
    mean_click_rank: float | None  # of the results opened, 1 = the first


class IngestionDayOut(BaseModel):
    day: str  # YYYY-MM-DD (UTC)
    files: int  # finished that day: completed or failed
    chunks: int
    failed: int
    median_seconds: float | None  # from a file's upload to its finish


class IngestionStatsOut(BaseModel):
    object: str = "ingestion_stats"
    since: str
    until: str
    by_status: dict[str, int]  # every file of the collections, now
    failures: dict[str, int]  # files that failed in the span, by error code
    days: list[IngestionDayOut]


@router.get("/search")
def search_stats(
    auth: AuthDep,
    analytics: AnalyticsDep,
    principal: PrincipalDep,
    since: Annotated[Day, SINCE] = None,
    until: Annotated[Day, UNTIL] = None,
    zero_results: Annotated[
        bool, Query(description="Only queries that found nothing, most often first")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> ListOut[QueryStatsOut]:
    """The most searched queries of the span (counted by `search.record_queries`)."""
    first, last = day_span(since, until)
    found = analytics.queries(
        since_day=day_number(first),
        until_day=day_number(last),
        user_ids=visible_users(auth, principal),
        zero_only=zero_results,
        limit=limit,
    )
    return ListOut(
        data=[
            QueryStatsOut(
                query=q.query,
                searches=q.searches,
                zero_results=q.zero_results,
                users=q.users,
                mean_results=q.mean_results,
                mean_seconds=q.mean_seconds,
                clicks=q.clicks,
                click_through=q.click_through,
                mean_click_rank=q.mean_click_rank,
            )
            for q in found
        ]
    )


@router.get("/ingestion")
def ingestion_stats(
    analytics: AnalyticsDep,
    principal: PrincipalDep,
    since: Annotated[Day, SINCE] = None,
    until: Annotated[Day, UNTIL] = None,
) -> IngestionStatsOut:
    first, last = day_span(since, until)
    teams = None if principal.can(Permission.ADMIN) else [principal.team_id]
    stats = analytics.ingestion(
        since_day=day_number(first), until_day=day_number(last), team_ids=teams
    )
    return IngestionStatsOut(
        since=first.isoformat(),
        until=last.isoformat(),
        by_status=stats.by_status,
        failures=stats.failures,
        days=[
            IngestionDayOut(
                day=(EPOCH + dt.timedelta(days=d.day)).isoformat(),
                files=d.files,
                chunks=d.chunks,
                failed=d.failed,
                median_seconds=d.median_seconds,
            )
            for d in stats.days
        ],
    )
