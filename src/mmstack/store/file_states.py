"""How many files of a collection (or a batch) are in each state, and a collection file's
state as OpenAI's vector store file reports it.

mmstack's statuses are `queued`, `in_progress`, `completed` and `failed`; OpenAI's are
`in_progress` (queued included), `completed`, `failed` and `cancelled` (here: failed with
the `cancelled` error code, so the native API shows it as a failure with its reason and
it can be retried). `FileCounts` holds both views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from mmstack.store.models import CollectionFile, FileErrorCode, FileStatus

FileState = Literal["in_progress", "completed", "failed", "cancelled"]
ErrorCode = Literal["server_error", "unsupported_file", "invalid_file"]

_CANCELLED = CollectionFile.error_code == FileErrorCode.CANCELLED
_FAILED = CollectionFile.status == FileStatus.FAILED


@dataclass(frozen=True, slots=True)
class FileCounts:
    queued: int = 0
    in_progress: int = 0  # taken by a worker
    completed: int = 0
    failed: int = 0  # cancelled ones not included
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.in_progress + self.completed + self.failed + self.cancelled

    @property
    def waiting_or_running(self) -> int:
        """OpenAI's `in_progress`: queued or taken by a worker."""
        return self.queued + self.in_progress

    @property
    def failed_or_cancelled(self) -> int:
        """mmstack's `failed`: every file that did not complete, cancelled ones included."""
        return self.failed + self.cancelled


def state_of(member: CollectionFile) -> FileState:
    if member.status == FileStatus.COMPLETED:
        return "completed"
    if member.status == FileStatus.FAILED:
        return "cancelled" if member.error_code == FileErrorCode.CANCELLED else "failed"
    return "in_progress"


def error_code_of(member: CollectionFile) -> ErrorCode:
    """The OpenAI error code of a failed file (a file failed before codes were recorded
    counts as an invalid file)."""
    code = member.error_code
    if code == FileErrorCode.SERVER_ERROR:
        return "server_error"
    if code == FileErrorCode.UNSUPPORTED_FILE:
        return "unsupported_file"
    return "invalid_file"


def state_condition(state: FileState) -> ColumnElement[bool]:
    """SQL that selects the collection files in `state`."""
    match state:
        case "completed":
            return CollectionFile.status == FileStatus.COMPLETED
        case "failed":
            return and_(_FAILED, or_(CollectionFile.error_code.is_(None), ~_CANCELLED))
        case "cancelled":
            return and_(_FAILED, _CANCELLED)
        case "in_progress":
            return CollectionFile.status.in_([FileStatus.QUEUED, FileStatus.IN_PROGRESS])


_COUNTED_AS = case(
    (and_(_FAILED, _CANCELLED), "cancelled"),
    else_=CollectionFile.status,
)


def count_files(session: Session, *where: ColumnElement[bool]) -> FileCounts:
    """How many collection files matching `where` are in each state."""
    rows = session.execute(
        select(_COUNTED_AS, func.count())
        .select_from(CollectionFile)
        .where(*where)
        .group_by(_COUNTED_AS)
    ).all()
    return FileCounts(**{str(state): int(n) for state, n in rows})
