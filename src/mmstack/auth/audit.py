"""The audit log: who did what, when, from which address, with what result. Rows are only
ever added (the database refuses updates and deletes); admins query and export them."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy.orm import Session

from mmstack.config.logging import request_id_var
from mmstack.store import audit_log
from mmstack.store.db import Database
from mmstack.store.models import AuditEvent

Result = Literal["success", "failure", "denied"]
EXPORT_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and from where: a user (through a key or a login), the local CLI, or
    mmstack itself (a scheduled job)."""

    user_id: str | None = None
    key_id: str | None = None
    team_id: str | None = None
    address: str | None = None

    @classmethod
    def local(cls) -> Actor:
        return cls(address="local")

    @classmethod
    def system(cls) -> Actor:
        return cls(address="system")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    action: str | None = None  # exact, or a prefix ending in '.' ("auth.")
    actor_id: str | None = None
    result: Result | None = None
    since: float | None = None
    until: float | None = None
    after_id: int | None = None  # events with a larger id (for paging forward)
    limit: int = 100


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        action: str,
        actor: Actor,
        *,
        result: Result = "success",
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> None:
        """Add an event; inside `session`, it commits (or not) with the change it records."""
        event = AuditEvent(
            at=time.time(),
            action=action,
            result=result,
            actor_id=actor.user_id,
            key_id=actor.key_id,
            team_id=actor.team_id,
            target=target,
            address=actor.address,
            request_id=request_id_var.get(),
            detail=detail or {},
        )
        if session is not None:
            session.add(event)
            return
        with self._db.session(write=True) as own:
            own.add(event)

    def query(self, query: AuditQuery) -> list[AuditEvent]:
        """Matching events in the order they happened."""
        with self._db.session() as session:
            return audit_log.events(
                session,
                action=query.action,
                actor_id=query.actor_id,
                result=query.result,
                since=query.since,
                until=query.until,
                after_id=query.after_id,
                limit=query.limit,
            )

    def export(self, query: AuditQuery) -> Iterator[str]:
        """Every matching event as JSON lines, read in batches (`query.limit` is ignored)."""
        after = query.after_id
        while True:
            batch = self.query(dataclasses.replace(query, after_id=after, limit=EXPORT_BATCH))
            for event in batch:
                yield json.dumps(event_dict(event), separators=(",", ":")) + "\n"
            if len(batch) < EXPORT_BATCH:
                return
            after = batch[-1].id


def event_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at,
        "action": event.action,
        "result": event.result,
        "actor_id": event.actor_id,
        "key_id": event.key_id,
        "team_id": event.team_id,
        "target": event.target,
        "address": event.address,
        "request_id": event.request_id,
        "detail": event.detail,
    }
