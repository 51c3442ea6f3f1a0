"""Usage per day, user, key and model: one's own; an operator's team; everyone's (admins)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from mmstack.api.account_schemas import UsageOut
from mmstack.api.deps import PrincipalDep, authorize, stack_of
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import Permission
from mmstack.errors import InvalidRequestError

router = APIRouter(
    prefix="/api/usage", tags=["usage"], dependencies=[Depends(authorize(None, Permission.READ))]
)
EPOCH = dt.date(1970, 1, 1)


def _day(value: dt.date) -> int:
    return (value - EPOCH).days


@router.get("")
def usage(
    request: Request,
    principal: PrincipalDep,
    since: Annotated[dt.date | None, Query(description="First day (UTC), default today")] = None,
    until: Annotated[dt.date | None, Query(description="Last day (UTC), default today")] = None,
) -> ListOut[UsageOut]:
    today = dt.datetime.now(dt.UTC).date()
    first, last = since or today, until or today
    if first > last:
        raise InvalidRequestError("since must not be after until", param="since")
    auth = stack_of(request).auth
    user_ids: list[str] | None = [principal.user_id]
    if principal.can(Permission.ADMIN):
        user_ids = None
    elif principal.can(Permission.OPERATE):
        user_ids = [u.id for u in auth.accounts.list_users(team=principal.team_id)]
    rows = auth.quotas.usage(since_day=_day(first), until_day=_day(last), user_ids=user_ids)
    return ListOut(
        data=[UsageOut.of(r, (EPOCH + dt.timedelta(days=r.day)).isoformat()) for r in rows]
    )
