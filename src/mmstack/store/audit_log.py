"""Queries about the audit log (the repository of `mmstack.auth`'s audit): the events
matching a query, in the order they happened. Events are only ever added (`session.add`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mmstack.store.models import AuditEvent


def events(
    session: Session,
    *,
    action: str | None,
    actor_id: str | None,
    result: str | None,
    since: float | None,
    until: float | None,
    after_id: int | None,
    limit: int,
) -> list[AuditEvent]:
    """At most `limit` events by id, those given matching: `action` exactly, or as a
    prefix when it ends in '.'; `since` <= at < `until`; an id larger than `after_id`."""
    stmt = select(AuditEvent).order_by(AuditEvent.id).limit(limit)
    if action:
        if action.endswith("."):
            stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == action)
    if actor_id:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if result:
        stmt = stmt.where(AuditEvent.result == result)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    if after_id is not None:
        stmt = stmt.where(AuditEvent.id > after_id)
    return list(session.scalars(stmt))
