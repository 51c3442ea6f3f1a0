"""Where a collection file is in its ingestion: its status, progress and last error, as
the ingestion job records them."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from mmstack.store.models import CollectionFile, FileErrorCode, FileStatus


def set_status(
    session: Session,
    member_id: int,
    status: FileStatus,
    error: str | None,
    error_code: FileErrorCode | None = None,
) -> None:
    session.execute(
        update(CollectionFile)
        .where(CollectionFile.id == member_id)
        .values(status=status, last_error=error, error_code=error_code)
    )


def set_progress(session: Session, member_ids: list[int], progress: float) -> None:
    session.execute(
        update(CollectionFile).where(CollectionFile.id.in_(member_ids)).values(progress=progress)
    )


def mark_completed(session: Session, member_id: int, chunk_count: int) -> bool:
    """Record the collection file as completed with its number of chunks; False when it is
    gone (deleted while it was ingested)."""
    done = session.execute(
        update(CollectionFile)
        .where(CollectionFile.id == member_id)
        .values(status=FileStatus.COMPLETED, progress=1.0, chunk_count=chunk_count)
    )
    return bool(getattr(done, "rowcount", 1))
