"""Queries about the responses kept for the Responses API: finding one that has not
expired (within its team), and dropping the expired ones."""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.store.models import StoredResponse
from mmstack.store.ownership import Owner


def find_response(
    session: Session, response_id: str, *, owner: Owner | None, param: str
) -> StoredResponse:
    """A response `owner` may see, or NotFoundError."""
    found = visible_response(session, response_id, owner=owner)
    if found is None:
        raise NotFoundError(f"response '{response_id}' not found", param=param)
    return found


def visible_response(
    session: Session, response_id: str, *, owner: Owner | None
) -> StoredResponse | None:
    """The response, unless it has expired or is another team's than `owner`'s."""
    query = select(StoredResponse).where(
        StoredResponse.id == response_id, StoredResponse.expires_at > int(time.time())
    )
    if owner is not None:
        query = query.where(StoredResponse.team_id == owner.team_id)
    return session.scalar(query)


def delete_expired(session: Session, moment: float) -> int:
    """Delete the responses expired at `moment` (seconds since the epoch); how many."""
    result = session.execute(delete(StoredResponse).where(StoredResponse.expires_at <= moment))
    return int(getattr(result, "rowcount", 0) or 0)
