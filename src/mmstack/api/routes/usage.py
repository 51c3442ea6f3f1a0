"""Usage per day, user, key and model: one's own; an operator's team; everyone's (admins)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BeforeValidator

from mmstack.api.account_schemas import UsageOut
from mmstack.api.deps import AuthDep, PrincipalDep, authorize
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import Permission

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


def _day(value: dt.date) -> int:
    return (value - EPOCH).days


@router.get("")
def usage(
    auth: AuthDep,
    principal: PrincipalDep,
    since: Annotated[
        Day, Query(description="First day (UTC); default today, or `until` if earlier")
    ] = None,
    until: Annotated[
        Day, Query(description="Last day (UTC); default today, or `since` if later")
    ] = None,
) -> ListOut[UsageOut]:
    today = dt.datetime.now(dt.UTC).date()
    # After `until`, `since` makes an empty range (no rows), not an error.
    first = since or min(today, until or today)
    last = until or max(today, first)
    auth = auth
    user_ids: list[str] | None = [principal.user_id]
    if principal.can(Permission.ADMIN):
        user_ids = None
    elif principal.can(Permission.OPERATE):
        user_ids = [u.id for u in auth.accounts.list_users(team=principal.team_id)]
    rows = auth.quotas.usage(since_day=_day(first), until_day=_day(last), user_ids=user_ids)
    return ListOut(
        data=[UsageOut.of(r, (EPOCH + dt.timedelta(days=r.day)).isoformat()) for r in rows]
    )
