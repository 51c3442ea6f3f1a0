"""File batches: files attached to a vector store together, watched and cancelled as one.

Cancelling a batch cancels its files still waiting for a worker (they fail with the
`cancelled` code and can be retried); files being processed finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.ingest.file_states import FileState, StateCounts, count_states
from mmstack.ingest.pagination import Page, PageRequest
from mmstack.ingest.service import IngestionService
from mmstack.ingest.vector_stores import FileToAttach, attach_files, find_store, member_page
from mmstack.store.db import Database
from mmstack.store.models import (
    CollectionFile,
    FileBatch,
    FileBatchMember,
    FileErrorCode,
    FileStatus,
    Job,
    JobStatus,
)
from mmstack.store.ownership import OwnerScoped

MAX_BATCH_FILES = 2000  # OpenAI's limit


@dataclass(frozen=True, slots=True)
class BatchInfo:
    batch: FileBatch
    file_counts: StateCounts

    @property
    def status(self) -> Literal["in_progress", "completed", "cancelled"]:
        if self.batch.cancelled:
            return "cancelled"
        return "in_progress" if self.file_counts.in_progress else "completed"


def _in_batch(batch_id: str) -> list[ColumnElement[bool]]:
    members = select(FileBatchMember.collection_file_id).where(FileBatchMember.batch_id == batch_id)
    return [CollectionFile.id.in_(members)]


class FileBatchService(OwnerScoped):
    def __init__(self, db: Database, ingestion: IngestionService) -> None:
        self._db = db
        self._ingestion = ingestion

    def create(self, vector_store_id: str, files: Sequence[FileToAttach]) -> BatchInfo:
        if not files:
            raise InvalidRequestError("a file batch needs at least one file", param="file_ids")
        if len(files) > MAX_BATCH_FILES:
            raise InvalidRequestError(
                f"a file batch holds at most {MAX_BATCH_FILES} files, not {len(files)}",
                param="file_ids",
            )
        with self._db.session(write=True) as session:
            store = find_store(session, vector_store_id, owner=self._owner)
            members = attach_files(session, self._ingestion, store.id, files, owner=self._owner)
            batch = FileBatch(collection_id=store.id)
            session.add(batch)
            session.flush()
            member_ids = sorted({m.id for m in members})
            session.add_all(
                FileBatchMember(batch_id=batch.id, collection_file_id=i) for i in member_ids
            )
        self._ingestion.notify()
        return self.get(vector_store_id, batch.id)

    def get(self, vector_store_id: str, batch_id: str) -> BatchInfo:
        with self._db.session() as session:
            batch = self._find(session, vector_store_id, batch_id)
            return BatchInfo(batch, count_states(session, *_in_batch(batch.id)))

    def files(
        self,
        vector_store_id: str,
        batch_id: str,
        page: PageRequest,
        *,
        state: FileState | None = None,
    ) -> Page[CollectionFile]:
        with self._db.session() as session:
            batch = self._find(session, vector_store_id, batch_id)
            return member_page(session, _in_batch(batch.id), page, state)

    def cancel(self, vector_store_id: str, batch_id: str) -> BatchInfo:
        with self._db.session(write=True) as session:
            batch = self._find(session, vector_store_id, batch_id)
            waiting = list(
                session.scalars(
                    select(CollectionFile.id).where(
                        *_in_batch(batch.id), CollectionFile.status == FileStatus.QUEUED
                    )
                )
            )
            if waiting:
                session.execute(
                    update(CollectionFile)
                    .where(CollectionFile.id.in_(waiting))
                    .values(
                        status=FileStatus.FAILED,
                        error_code=FileErrorCode.CANCELLED,
                        last_error="cancelled with its file batch before it was processed",
                    )
                )
                # A job already claimed finds its file failed and leaves it alone.
                session.execute(
                    delete(Job).where(
                        Job.collection_file_id.in_(waiting), Job.status == JobStatus.QUEUED
                    )
                )
            batch.cancelled = True
        return self.get(vector_store_id, batch_id)

    def _find(self, session: Session, vector_store_id: str, batch_id: str) -> FileBatch:
        store = find_store(session, vector_store_id, owner=self._owner)
        batch = session.get(FileBatch, batch_id)
        if batch is None or batch.collection_id != store.id:
            raise NotFoundError(
                f"file batch '{batch_id}' not found in vector store '{vector_store_id}'",
                param="batch_id",
            )
        return batch
