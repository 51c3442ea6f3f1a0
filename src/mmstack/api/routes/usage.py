"""Usage per day, user, key, team and model, as rows or summed with latency percentiles:
one's own; an operator's team; everyone's (admins)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BeforeValidator

from mmstack.api.account_schemas import UsageOut, UsageSummaryOut
from mmstack.api.deps import AuthDep, PrincipalDep, authorize
from mmstack.api.schemas import ListOut
from mmstack.auth.principal import Principal
from mmstack.auth.roles import Permission
from mmstack.auth.service import Auth
from mmstack.errors import InvalidRequestError
from mmstack.store.usage_report import Dimension, UsageSummary

router = APIRouter(
    prefix="/api/usage", tags=["usage"], dependencies=[Depends(authorize(None, Permission.READ))]
)
EPOCH = dt.date(1970, 1, 1)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    """Only YYYY-MM-DD (pydantic alone would also take a number of seconds)."""
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[dt.date | None, BeforeValidator(_iso_day)]


def day_number(value: dt.date) -> int:
    return (value - EPOCH).days


def day_span(since: dt.date | None, until: dt.date | None) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    # After `until`, `since` makes an empty range (no rows), not an error.
    first = since or min(today, until or today)
    return first, until or max(today, first)


def visible_users(auth: Auth, principal: Principal) -> list[str] | None:
    """Whose usage the caller sees: everyone's (admins), their team's (operators), or
    their own."""
    if principal.can(Permission.ADMIN):
        return None
    if principal.can(Permission.OPERATE):
        return [u.id for u in auth.accounts.list_users(team=principal.team_id)]
    return [principal.user_id]


SINCE = Query(description="First day (UTC); default today, or `until` if earlier")
UNTIL = Query(description="Last day (UTC); default today, or `since` if later")


@router.get("")
def usage(
    auth: AuthDep,
    principal: PrincipalDep,
    since: Annotated[Day, SINCE] = None,
    until: Annotated[Day, UNTIL] = None,
) -> ListOut[UsageOut]:
    first, last = day_span(since, until)
    rows = auth.quotas.usage(
        since_day=day_number(first),
        until_day=day_number(last),
        user_ids=visible_users(auth, principal),
    )
    return ListOut(
        data=[UsageOut.of(r, (EPOCH + dt.timedelta(days=r.day)).isoformat()) for r in rows]
    )


@router.get("/summary")
def usage_summary(
    auth: AuthDep,
    principal: PrincipalDep,
    since: Annotated[Day, SINCE] = None,
    until: Annotated[Day, UNTIL] = None,
    by: Annotated[
        list[Dimension] | None,
        Query(description="Group by these, in this order (repeat); none: one total row"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="The `id` of the last group seen")] = None,
) -> ListOut[UsageSummaryOut]:
    """Usage summed by day, user, key, team or model, with latency percentiles of the
    model calls, in pages of `limit` groups."""
    first, last = day_span(since, until)
    dimensions = list(dict.fromkeys(by or []))
    summaries = [
        _summary_out(s, dimensions)
        for s in auth.quotas.summaries(
            since_day=day_number(first),
            until_day=day_number(last),
            by=dimensions,
            user_ids=visible_users(auth, principal),
        )
    ]
    start = 0
    if after is not None:
        ids = [s.id for s in summaries]
        if after not in ids:
            raise InvalidRequestError(f"no group {after!r} in this summary", param="after")
        start = ids.index(after) + 1
    page = summaries[start : start + limit]
    return ListOut(data=page, has_more=start + limit < len(summaries))


def _summary_out(summary: UsageSummary, by: list[Dimension]) -> UsageSummaryOut:
    day = None if summary.day is None else (EPOCH + dt.timedelta(days=summary.day)).isoformat()
    named = {
        "day": day,
        "user": summary.user_id,
        "key": summary.key_id or "-",
        "team": summary.team_id,
        "model": summary.model or "-",
    }
    return UsageSummaryOut(
        **asdict(summary)
        | {
            "id": "/".join(str(named[d]) for d in by) or "all",
            "day": day,
            "key_id": summary.key_id or None,
            "model": summary.model or None,
        }
    )
