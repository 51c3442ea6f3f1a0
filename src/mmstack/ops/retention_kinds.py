"""The kinds of data mmstack itself keeps for a while (`settings.retention`), each able to
say what is due at a moment and to delete exactly that, recording each deletion in the
audit log in the transaction that makes it. Items name what a person knows: a file's
name, a conversation's title (bulk rows are counted: `retention_bulk`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from sqlalchemy.orm import Session

from mmstack.auth.audit import Actor, AuditLog
from mmstack.errors import NotFoundError
from mmstack.ingest.periodic import Heartbeat
from mmstack.ingest.reconcile import Orphans, Reconciler
from mmstack.knowledge.files import FileService
from mmstack.store import retention as rows
from mmstack.store.db import Database
from mmstack.store.models import StoredFile

DAY: Final = 86_400


@dataclass(frozen=True, slots=True)
class RetentionItem:
    """Something retention deletes: `id` is what it is deleted by, `label` what a person
    knows it by, `count` the rows it stands for (bulk rows), `detail` what its deletion
    needs and records (JSON values)."""

    id: str
    label: str
    count: int = 1
    detail: dict[str, Any] = field(default_factory=dict, compare=True, hash=False)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "count": self.count, "detail": self.detail}


class Kind(Protocol):
    """A kind mmstack keeps in its database (the built-in policies)."""

    name: str

    def policy(self) -> str:
        """The policy, for a person: '30 days', 'kept for ever'."""

    def held(self, held: rows.Held) -> int | None:
        """How many there are (None: not counted)."""

    def plan(self, now: float) -> list[RetentionItem]: ...

    def apply(
        self, items: Sequence[RetentionItem], actor: Actor, heartbeat: Heartbeat
    ) -> list[RetentionItem]: ...


def day_text(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")


def _days_policy(days: int) -> str:
    return "kept for ever" if days == 0 else f"{days} days"


class Aged:
    """A kind kept `days` days (0: for ever)."""

    def __init__(self, name: str, db: Database, audit: AuditLog, days: int) -> None:
        self.name = name
        self._db = db
        self._audit = audit
        self._days = days

    @property
    def action(self) -> str:
        return f"retention.{self.name}"

    def policy(self) -> str:
        return _days_policy(self._days)

    def cutoff(self, now: float) -> float | None:
        return None if self._days == 0 else now - self._days * DAY


class Files(Aged):
    """Uploaded files by upload time, deleted through `FileService.delete` (chunks, vectors,
    memberships, blobs); with `unattached`, only Files API uploads no collection uses."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        files: FileService,
        days: int,
        *,
        unattached: bool = False,
        files_days: int = 0,
    ) -> None:
        super().__init__("unattached_files" if unattached else "files", db, audit, days)
        self._files = files
        self._unattached = unattached
        # Unattached files old enough for the `files` policy are listed there, not twice.
        self._files_days = files_days if unattached else 0

    def held(self, held: rows.Held) -> int:
        return held.unattached_files if self._unattached else held.files

    def plan(self, now: float) -> list[RetentionItem]:
        cutoff = self.cutoff(now)
        if cutoff is None:
            return []
        with self._db.session() as session:
            found = rows.files_before(session, cutoff, unattached=self._unattached)
        if self._files_days:
            found = [r for r in found if r.at >= now - self._files_days * DAY]
        return [
            RetentionItem(r.id, r.label, detail={"created_at": r.at, "cutoff": cutoff})
            for r in found
        ]

    def apply(
        self, items: Sequence[RetentionItem], actor: Actor, heartbeat: Heartbeat
    ) -> list[RetentionItem]:
        deleted = []
        for item in items:
            cutoff = float(item.detail["cutoff"])

            def confirm(session: Session, stored: StoredFile, cutoff: float = cutoff) -> bool:
                if stored.created_at >= cutoff:
                    return False
                if self._unattached and not rows.still_unattached(session, stored.id):
                    return False  # attached to a collection since the plan
                detail = {"filename": stored.filename, "created_at": stored.created_at}
                self._audit.record(
                    self.action,
                    actor,
                    target=stored.id,
                    detail={**detail, "cutoff": cutoff, "days": self._days},
                    session=session,
                )
                return True

            try:
                if self._files.delete(item.id, confirm=confirm):
                    deleted.append(item)
            except NotFoundError:
                pass  # deleted since the plan
            heartbeat()
        return deleted


class Conversations(Aged):
    """Conversations by their last activity, with their messages."""

    def __init__(self, db: Database, audit: AuditLog, days: int) -> None:
        super().__init__("conversations", db, audit, days)

    def held(self, held: rows.Held) -> int:
        return held.conversations

    def plan(self, now: float) -> list[RetentionItem]:
        cutoff = self.cutoff(now)
        if cutoff is None:
            return []
        with self._db.session() as session:
            found = rows.conversations_before(session, cutoff)
        return [
            RetentionItem(
                r.id, r.label or "(untitled)", detail={"updated_at": r.at, "cutoff": cutoff}
            )
            for r in found
        ]

    def apply(
        self, items: Sequence[RetentionItem], actor: Actor, heartbeat: Heartbeat
    ) -> list[RetentionItem]:
        deleted = []
        for item in items:
            cutoff = float(item.detail["cutoff"])
            with self._db.session(write=True) as session:
                if rows.delete_conversation_before(session, item.id, cutoff):
                    self._audit.record(
                        self.action,
                        actor,
                        target=item.id,
                        detail={"title": item.label, "cutoff": cutoff, "days": self._days},
                        session=session,
                    )
                    deleted.append(item)
            heartbeat()
        return deleted


class OrphanData:
    """Vectors without a chunk and stored blobs no file uses, found and removed by the
    `Reconciler` (blobs younger than its grace period are left to uploads in flight)."""

    name = "orphans"

    def __init__(self, reconciler: Reconciler, audit: AuditLog) -> None:
        self._reconciler = reconciler
        self._audit = audit

    def policy(self) -> str:
        return "always"

    def held(self, held: rows.Held) -> None:
        return None

    def plan(self, now: float) -> list[RetentionItem]:
        found = self._reconciler.orphans()
        items = []
        vectors = len(found.vectors) + sum(len(ids) for ids in found.derived)
        if vectors:
            detail = {"ids": list(found.vectors), "derived": [list(ids) for ids in found.derived]}
            items.append(RetentionItem("vectors", "vectors without a chunk", vectors, detail))
        if found.blobs:
            detail = {"digests": list(found.blobs)}
            items.append(
                RetentionItem("blobs", "stored blobs no file uses", len(found.blobs), detail)
            )
        return items

    def apply(
        self, items: Sequence[RetentionItem], actor: Actor, heartbeat: Heartbeat
    ) -> list[RetentionItem]:
        planned = {item.id: item for item in items}
        vectors, blobs = planned.get("vectors"), planned.get("blobs")
        orphans = Orphans(
            tuple(vectors.detail["ids"]) if vectors else (),
            tuple(tuple(ids) for ids in vectors.detail["derived"]) if vectors else (),
            tuple(blobs.detail["digests"]) if blobs else (),
        )
        removed = self._reconciler.remove(orphans)
        deleted = []
        if vectors is not None:
            ids, derived = list(removed.vectors), [list(d) for d in removed.derived]
            count = len(ids) + sum(len(d) for d in derived)
            if count:
                detail = {"ids": ids, "derived": derived}
                deleted.append(replace(vectors, count=count, detail=detail))
        if blobs is not None and removed.blobs:
            detail = {"digests": list(removed.blobs)}
            deleted.append(replace(blobs, count=len(removed.blobs), detail=detail))
        for item in deleted:
            self._audit.record(
                "retention.orphans", actor, target=item.id, detail=_orphans_detail(item)
            )
        heartbeat()
        return deleted


def _orphans_detail(item: RetentionItem) -> dict[str, Any]:
    """What the audit event of removed orphans keeps: their count and a bounded sample."""
    if item.id == "blobs":
        return {"count": item.count, "digests": item.detail["digests"][:20]}
    ids = [*item.detail["ids"], *(i for ids in item.detail["derived"] for i in ids)]
    return {"count": item.count, "first_id": min(ids), "last_id": max(ids)}
