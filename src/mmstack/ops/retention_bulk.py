"""The kinds of data retention deletes in bulk, counted rather than named: audit events
and finished job records (up to the largest id the plan counted), usage by UTC day, and
expired stored responses. One audit event per kind records each deletion."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from mmstack.auth.audit import Actor, AuditLog
from mmstack.ingest.periodic import Heartbeat
from mmstack.ops.retention_kinds import DAY, Aged, RetentionItem, day_text
from mmstack.store import retention as rows
from mmstack.store.db import Database
from mmstack.store.stored_responses import delete_expired


class _Bulk(Aged, ABC):
    """Rows deleted together, up to the largest id the plan counted: one item, one audit
    event (count, cutoff, id range)."""

    what: str

    @abstractmethod
    def span(self, session: Session, cutoff: float) -> rows.Span: ...

    @abstractmethod
    def delete(self, session: Session, cutoff: float, last_id: int) -> int: ...

    def plan(self, now: float) -> list[RetentionItem]:
        cutoff = self.cutoff(now)
        if cutoff is None:
            return []
        with self._db.session() as session:
            span = self.span(session, cutoff)
        if span.count == 0 or span.first_id is None or span.last_id is None:
            return []
        return [self._item(span.count, cutoff, span.first_id, span.last_id)]

    def _item(self, count: int, cutoff: float, first: int, last: int) -> RetentionItem:
        detail = {"cutoff": cutoff, "first_id": first, "last_id": last}
        label = f"{self.what} before {day_text(cutoff)} (ids {first} to {last})"
        return RetentionItem(f"{first}-{last}", label, count, detail)

    def apply(
        self, items: Sequence[RetentionItem], actor: Actor, heartbeat: Heartbeat
    ) -> list[RetentionItem]:
        deleted = []
        for item in items:
            cutoff, last = float(item.detail["cutoff"]), int(item.detail["last_id"])
            with self._db.session(write=True) as session:
                count = self.delete(session, cutoff, last)
                if count:
                    # Added after the deletion, and newer than the cutoff: it stays.
                    self._audit.record(
                        self.action,
                        actor,
                        detail={"count": count, **item.detail, "days": self._days},
                        session=session,
                    )
            if count:
                deleted.append(item if count == item.count else replace(item, count=count))
            heartbeat()
        return deleted


class AuditEvents(_Bulk):
    what = "audit events"

    def __init__(self, db: Database, audit: AuditLog, days: int) -> None:
        super().__init__("audit", db, audit, days)

    def held(self, held: rows.Held) -> int:
        return held.audit

    def span(self, session: Session, cutoff: float) -> rows.Span:
        return rows.audit_events_before(session, cutoff)

    def delete(self, session: Session, cutoff: float, last_id: int) -> int:
        return rows.delete_audit_events(session, cutoff, last_id)


class JobRecords(_Bulk):
    what = "finished job records"

    def __init__(self, db: Database, audit: AuditLog, days: int) -> None:
        super().__init__("jobs", db, audit, days)

    def held(self, held: rows.Held) -> int:
        return held.jobs

    def span(self, session: Session, cutoff: float) -> rows.Span:
        return rows.finished_jobs_before(session, cutoff)

    def delete(self, session: Session, cutoff: float, last_id: int) -> int:
        return rows.delete_finished_jobs(session, cutoff, last_id)


class UsageDays(Aged):
    """Daily usage counters: one item per UTC day, one audit event for them all."""

    def __init__(self, db: Database, audit: AuditLog, days: int) -> None:
        super().__init__("usage", db, audit, days)

    def held(self, held: rows.Held) -> int:
        return held.usage

    def plan(self, now: float) -> list[RetentionItem]:
        if self._days == 0:
            return []
        before = int(now // DAY) - self._days
        with self._db.session() as session:
            found = rows.usage_days_before(session, before)
        return [
            RetentionItem(str(day), day_text(day * DAY), n, {"day": day, "before_day": before})
            for day, n in found
        ]

    def apply(
        self, items: Sequence[RetentionItem], actor: Actor, heartbeat: Heartbeat
    ) -> list[RetentionItem]:
        if not items:
            return []
        before = int(items[0].detail["before_day"])
        days = [int(item.detail["day"]) for item in items]
        with self._db.session(write=True) as session:
            present = dict(rows.usage_days_before(session, before))
            count = rows.delete_usage_days(session, days, before)
            if count:
                detail = {"first_day": min(days), "last_day": max(days), "before_day": before}
                self._audit.record(
                    self.action,
                    actor,
                    detail={"count": count, **detail, "days": self._days},
                    session=session,
                )
        heartbeat()
        return [
            item if present[d] == item.count else replace(item, count=present[d])
            for item, d in zip(items, days, strict=True)
            if present.get(d)
        ]


class ExpiredResponses:
    """Responses kept for the Responses API past their `expires_at` (`llm.stored_response_days`;
    saving a new response also drops them)."""

    name = "responses"

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def policy(self) -> str:
        return "when expired (llm.stored_response_days)"

    def held(self, held: rows.Held) -> int:
        return held.responses

    def plan(self, now: float) -> list[RetentionItem]:
        with self._db.session() as session:
            span = rows.expired_responses(session, now)
        if not span.count:
            return []
        label = f"stored responses expired by {day_text(now)}"
        return [RetentionItem("expired", label, span.count, {"cutoff": now})]

    def apply(
        self, items: Sequence[RetentionItem], actor: Actor, heartbeat: Heartbeat
    ) -> list[RetentionItem]:
        deleted = []
        for item in items:
            cutoff = float(item.detail["cutoff"])
            with self._db.session(write=True) as session:
                count = delete_expired(session, cutoff)
                if count:
                    self._audit.record(
                        "retention.responses",
                        actor,
                        detail={"count": count, "cutoff": cutoff},
                        session=session,
                    )
            if count:
                deleted.append(item if count == item.count else replace(item, count=count))
        return deleted
