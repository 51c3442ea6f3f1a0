"""Queries about file batches: which collection files a batch holds, and cancelling the
ones still waiting for a worker."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from mmstack.store.models import (
    CollectionFile,
    FileBatchMember,
    FileErrorCode,
    FileStatus,
    Job,
    JobStatus,
)


def in_batch(batch_id: str) -> list[ColumnElement[bool]]:
    """The condition on collection files that selects the batch's."""
    members = select(FileBatchMember.collection_file_id).where(FileBatchMember.batch_id == batch_id)
    return [CollectionFile.id.in_(members)]


def cancel_waiting(session: Session, batch_id: str) -> int:
    """Fail the batch's files still queued with the `cancelled` code and drop their queued
    jobs (a job already claimed finds its file failed and leaves it alone); returns how
    many were cancelled."""
    waiting = list(
        session.scalars(
            select(CollectionFile.id).where(
                *in_batch(batch_id), CollectionFile.status == FileStatus.QUEUED
            )
        )
    )
    if not waiting:
        return 0
    session.execute(
        update(CollectionFile)
        .where(CollectionFile.id.in_(waiting))
        .values(
            status=FileStatus.FAILED,
            error_code=FileErrorCode.CANCELLED,
            last_error="cancelled with its file batch before it was processed",
        )
    )
    session.execute(
        delete(Job).where(Job.collection_file_id.in_(waiting), Job.status == JobStatus.QUEUED)
    )
    return len(waiting)
