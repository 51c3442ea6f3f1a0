"""Queries of the retention policy (`mmstack.ops.retention`): what each kind holds, what is
older than a cutoff, and the bulk deletions. Each deletion is bounded by what the plan saw
(a cutoff and the largest id it counted), so it deletes the rows the plan listed and no
row that came after it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from mmstack.store.api_conversations import delete_conversation as delete_api_conversation
from mmstack.store.conversations import delete_conversation
from mmstack.store.models import (
    ApiConversation,
    AuditEvent,
    AuditRetention,
    CollectionFile,
    Conversation,
    Job,
    JobStatus,
    SearchUsage,
    StoredFile,
    StoredResponse,
    Usage,
    UsageLatency,
)

FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Row:
    """A row a person can name: its id, its name or title, and its time."""

    id: str
    label: str
    at: float


@dataclass(frozen=True, slots=True)
class Span:
    """Bulk rows: how many, and the range of their ids."""

    count: int
    first_id: int | None
    last_id: int | None


def _unattached() -> ColumnElement[bool]:
    member = select(CollectionFile.id).where(CollectionFile.file_id == StoredFile.id)
    return StoredFile.standalone.is_(True) & ~exists(member)


def files_before(session: Session, cutoff: float, *, unattached: bool = False) -> list[Row]:
    """The files uploaded before `cutoff` (only standalone ones no collection uses, when
    `unattached`), oldest first."""
    stmt = select(StoredFile.id, StoredFile.filename, StoredFile.created_at).where(
        StoredFile.created_at < cutoff
    )
    if unattached:
        stmt = stmt.where(_unattached())
    stmt = stmt.order_by(StoredFile.created_at, StoredFile.id)
    return [Row(id_, name, float(at)) for id_, name, at in session.execute(stmt)]


def still_unattached(session: Session, file_id: str) -> bool:
    return (
        session.scalar(select(StoredFile.id).where(StoredFile.id == file_id, _unattached()))
        is not None
    )


def conversations_before(session: Session, cutoff: float) -> list[Row]:
    """The conversations last active before `cutoff`, least recent first: the console's
    (labelled by their title) and the Conversations API's."""
    console = select(Conversation.id, Conversation.title, Conversation.updated_at).where(
        Conversation.updated_at < cutoff
    )
    api = select(ApiConversation.id, ApiConversation.updated_at).where(
        ApiConversation.updated_at < cutoff
    )
    found = [Row(id_, title, float(at)) for id_, title, at in session.execute(console)]
    found += [Row(id_, "", float(at)) for id_, at in session.execute(api)]
    return sorted(found, key=lambda row: (row.at, row.id))


def delete_conversation_before(session: Session, conversation_id: str, cutoff: float) -> bool:
    """Delete the conversation (a console one with its messages, an API one with its
    items) if it is still inactive since before `cutoff` (a new message keeps it)."""
    for model, remove in (
        (Conversation, delete_conversation),
        (ApiConversation, delete_api_conversation),
    ):
        found = session.scalar(
            select(model.id)
            .where(model.id == conversation_id, model.updated_at < cutoff)
            .with_for_update()
        )
        if found is not None:
            remove(session, conversation_id)
            return True
    return False


def expired_responses(session: Session, moment: float) -> Span:
    """The stored responses expired at `moment` (ids are strings: no range)."""
    count = session.scalar(select(func.count()).where(StoredResponse.expires_at <= moment))
    return Span(int(count or 0), None, None)


def _span(
    session: Session, id_column: InstrumentedAttribute[int], where: ColumnElement[bool]
) -> Span:
    count, first, last = session.execute(
        select(func.count(), func.min(id_column), func.max(id_column)).where(where)
    ).one()
    return Span(int(count or 0), first, last)


def audit_events_before(session: Session, cutoff: float) -> Span:
    return _span(session, AuditEvent.id, AuditEvent.at < cutoff)


def delete_audit_events(session: Session, cutoff: float, last_id: int) -> int:
    """Delete the audit events before `cutoff` with ids up to `last_id`. The database
    allows it only below the cutoff of `audit_retention`, raised for this transaction and
    set back to 0 before it commits (migration 0011)."""
    session.execute(update(AuditRetention).where(AuditRetention.id == 1).values(cutoff=cutoff))
    result = session.execute(
        delete(AuditEvent).where(AuditEvent.at < cutoff, AuditEvent.id <= last_id)
    )
    session.execute(update(AuditRetention).where(AuditRetention.id == 1).values(cutoff=0.0))
    return _rowcount(result)


def usage_days_before(session: Session, day: int) -> list[tuple[int, int]]:
    """Each day before `day` (days since the epoch) with its number of usage rows (the
    daily counters of requests and of searches)."""
    counted: dict[int, int] = {}
    for table in (Usage, SearchUsage):
        stmt = select(table.day, func.count()).where(table.day < day).group_by(table.day)
        for d, n in session.execute(stmt):
            counted[int(d)] = counted.get(int(d), 0) + int(n)
    return sorted(counted.items())


def delete_usage_days(session: Session, days: Sequence[int], before: int) -> int:
    """Delete the usage rows of `days` that are before `before`."""
    if not days:
        return 0
    result = session.execute(delete(Usage).where(Usage.day.in_(days), Usage.day < before))
    searches = session.execute(
        delete(SearchUsage).where(SearchUsage.day.in_(days), SearchUsage.day < before)
    )
    session.execute(
        delete(UsageLatency).where(UsageLatency.day.in_(days), UsageLatency.day < before)
    )
    return _rowcount(result) + _rowcount(searches)


def _finished_before(cutoff: float) -> ColumnElement[bool]:
    return Job.status.in_(FINISHED) & (Job.updated_at < cutoff)


def finished_jobs_before(session: Session, cutoff: float) -> Span:
    """The job records that finished (succeeded or failed) before `cutoff`; queued and
    running jobs are never counted."""
    return _span(session, Job.id, _finished_before(cutoff))


def delete_finished_jobs(session: Session, cutoff: float, last_id: int) -> int:
    result = session.execute(delete(Job).where(_finished_before(cutoff), Job.id <= last_id))
    return _rowcount(result)


@dataclass(frozen=True, slots=True)
class Held:
    """How many rows of each kind there are."""

    files: int
    unattached_files: int
    conversations: int
    responses: int
    audit: int
    usage: int
    jobs: int


def held(session: Session) -> Held:
    def count(*where: ColumnElement[bool], of: type) -> int:
        return int(session.scalar(select(func.count()).select_from(of).where(*where)) or 0)

    return Held(
        files=count(of=StoredFile),
        unattached_files=count(_unattached(), of=StoredFile),
        conversations=count(of=Conversation) + count(of=ApiConversation),
        responses=count(of=StoredResponse),
        audit=count(of=AuditEvent),
        usage=count(of=Usage) + count(of=SearchUsage),
        jobs=count(Job.status.in_(FINISHED), of=Job),
    )


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
