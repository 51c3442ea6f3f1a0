"""Retention: how long each kind of data is kept (`settings.retention`, set per environment
in the stack file), what is due, and deleting exactly that.

`plan(now)` lists, per kind, the items due at `now`; `apply(plan)` deletes those of them
still due (an item changed since, such as a conversation with a new message or a file
attached to a collection, is kept) and returns what it deleted, so a dry run lists what
the following apply deletes. Every deletion is recorded in the audit log. Job workers run
it every `retention.interval_hours` (`RetentionJob`); `mmstack retention` runs it by hand.

Logs are not kept here: mmstack writes them to stdout, and the collector (Loki in the
stack file) keeps them as long as it is configured to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from mmstack.auth.audit import Actor, AuditLog
from mmstack.config.settings import RetentionSettings
from mmstack.ingest.periodic import Heartbeat, PeriodicJob
from mmstack.ingest.reconcile import Reconciler
from mmstack.knowledge.files import FileService
from mmstack.ops.retention_bulk import AuditEvents, ExpiredResponses, JobRecords, UsageDays
from mmstack.ops.retention_kinds import (
    Conversations,
    Files,
    Kind,
    OrphanData,
    RetentionItem,
)
from mmstack.store import retention as rows
from mmstack.store.db import Database
from mmstack.store.jobs import JobQueue

log = logging.getLogger(__name__)

RETENTION_JOB: Final = "retention"

__all__ = [
    "RETENTION_JOB",
    "KindStatus",
    "RetentionItem",
    "RetentionJob",
    "RetentionPlan",
    "RetentionPolicy",
    "RetentionService",
]


class RetentionPolicy(Protocol):
    """Another kind of data kept for a while, beside the database's (the seam backups'
    rotation plugs into): what is due at `now`, and deleting those items (returning the
    ones deleted). The service records one audit event per item deleted."""

    @property
    def name(self) -> str: ...

    def plan(self, now: float) -> Sequence[RetentionItem]: ...

    def apply(self, items: Sequence[RetentionItem]) -> Sequence[RetentionItem]: ...


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """Per kind, in a fixed order, the items due at `at` (or deleted, from `apply`)."""

    at: float
    kinds: dict[str, tuple[RetentionItem, ...]]

    @property
    def empty(self) -> bool:
        return not any(self.kinds.values())

    def rows(self) -> list[tuple[str, RetentionItem]]:
        """Every item with its kind, in order (what a listing shows)."""
        return [(kind, item) for kind, items in self.kinds.items() for item in items]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kinds": {k: [item.as_dict() for item in items] for k, items in self.kinds.items()},
        }


@dataclass(frozen=True, slots=True)
class KindStatus:
    kind: str
    policy: str
    held: int | None  # None: not counted
    due: int  # rows

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "policy": self.policy, "held": self.held, "due": self.due}


class _Extra:
    """A `RetentionPolicy` as a built-in kind: its deletions recorded after it made them."""

    def __init__(self, policy: RetentionPolicy, audit: AuditLog) -> None:
        self.name = policy.name
        self._policy = policy
        self._audit = audit

    def policy(self) -> str:
        return "its own"

    def held(self, held: rows.Held) -> None:
        return None

    def plan(self, now: float) -> list[RetentionItem]:
        return list(self._policy.plan(now))

    def apply(
        self, items: Sequence[RetentionItem], actor: Actor, heartbeat: Heartbeat
    ) -> list[RetentionItem]:
        deleted = list(self._policy.apply(items))
        for item in deleted:
            detail = {"label": item.label, "count": item.count}
            self._audit.record(f"retention.{self.name}", actor, target=item.id, detail=detail)
        heartbeat()
        return deleted


class RetentionService:
    def __init__(
        self,
        db: Database,
        files: FileService,
        audit: AuditLog,
        reconciler: Reconciler,
        settings: RetentionSettings,
        *,
        clock: Callable[[], float] = time.time,
        policies: Sequence[RetentionPolicy] = (),
    ) -> None:
        self._db = db
        self._clock = clock
        self.settings = settings
        kinds: list[Kind] = [
            Files(db, audit, files, settings.files_days),
            Files(
                db,
                audit,
                files,
                settings.unattached_files_days,
                unattached=True,
                files_days=settings.files_days,
            ),
            Conversations(db, audit, settings.conversations_days),
            ExpiredResponses(db, audit),
            UsageDays(db, audit, settings.usage_days),
            JobRecords(db, audit, settings.jobs_days),
            OrphanData(reconciler, audit),
            *(_Extra(policy, audit) for policy in policies),
            # Last: the events the deletions above recorded are young, and stay.
            AuditEvents(db, audit, settings.audit_days),
        ]
        names = [kind.name for kind in kinds]
        if len(set(names)) != len(names):
            raise ValueError(f"retention kinds must have distinct names: {names}")
        self._kinds = kinds

    @property
    def kinds(self) -> list[str]:
        return [kind.name for kind in self._kinds]

    def plan(self, now: float | None = None) -> RetentionPlan:
        """What is due at `now` (default: the clock's time), per kind."""
        moment = self._clock() if now is None else now
        return RetentionPlan(moment, {kind.name: tuple(kind.plan(moment)) for kind in self._kinds})

    def apply(
        self,
        plan: RetentionPlan,
        *,
        actor: Actor | None = None,
        heartbeat: Heartbeat = lambda: None,
    ) -> RetentionPlan:
        """Delete the items of `plan` that are still due; returns those deleted. `actor`:
        who the audit log names (default: the local CLI)."""
        who = actor or Actor.local()
        deleted = {
            kind.name: tuple(kind.apply(plan.kinds.get(kind.name, ()), who, heartbeat))
            for kind in self._kinds
        }
        done = RetentionPlan(self._clock(), deleted)
        if not done.empty:
            counts = {kind: sum(i.count for i in items) for kind, items in deleted.items() if items}
            log.info("retention applied", extra={"deleted": counts})
        return done

    def status(self, now: float | None = None) -> list[KindStatus]:
        """Per kind: the policy, how many are held, how many are due."""
        plan = self.plan(now)
        with self._db.session() as session:
            held = rows.held(session)
        return [
            KindStatus(
                kind.name,
                kind.policy(),
                kind.held(held),
                sum(item.count for item in plan.kinds[kind.name]),
            )
            for kind in self._kinds
        ]


class RetentionJob(PeriodicJob):
    """The job that applies the policy every `interval_hours` (0: only by command)."""

    def __init__(
        self,
        retention: RetentionService,
        queue: JobQueue,
        *,
        interval_hours: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        def apply(heartbeat: Heartbeat) -> None:
            retention.apply(retention.plan(), actor=Actor.system(), heartbeat=heartbeat)

        super().__init__(RETENTION_JOB, queue, apply, interval_hours=interval_hours, clock=clock)
