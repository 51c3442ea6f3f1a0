"""File batches: files attached to a vector store together, watched and cancelled as one.

Cancelling a batch cancels its files still waiting for a worker (they fail with the
`cancelled` code and can be retried); files being processed finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.knowledge.intake import Intake
from mmstack.knowledge.members import FileToAttach, attach_files
from mmstack.store.collections import find_collection, member_page
from mmstack.store.db import Database
from mmstack.store.file_batches import cancel_waiting, in_batch
from mmstack.store.file_states import FileCounts, FileState, count_files
from mmstack.store.models import Collection, CollectionFile, FileBatch, FileBatchMember
from mmstack.store.ownership import Owner, OwnerScoped
from mmstack.store.pagination import Page, PageRequest

MAX_BATCH_FILES = 2000  # OpenAI's limit


@dataclass(frozen=True, slots=True)
class BatchInfo:
    batch: FileBatch
    file_counts: FileCounts

    @property
    def status(self) -> Literal["in_progress", "completed", "cancelled"]:
        if self.batch.cancelled:
            return "cancelled"
        return "in_progress" if self.file_counts.waiting_or_running else "completed"


class FileBatchService(OwnerScoped):
    def __init__(self, db: Database, intake: Intake) -> None:
        self._db = db
        self._intake = intake

    def create(self, vector_store_id: str, files: Sequence[FileToAttach]) -> BatchInfo:
        if not files:
            raise InvalidRequestError("a file batch needs at least one file", param="file_ids")
        if len(files) > MAX_BATCH_FILES:
            raise InvalidRequestError(
                f"a file batch holds at most {MAX_BATCH_FILES} files, not {len(files)}",
                param="file_ids",
            )
        with self._db.session(write=True) as session:
            store = _find_store(session, vector_store_id, owner=self._owner)
            members = attach_files(session, self._intake, store.id, files, owner=self._owner)
            batch = FileBatch(collection_id=store.id)
            session.add(batch)
            session.flush()
            member_ids = sorted({m.id for m in members})
            session.add_all(
                FileBatchMember(batch_id=batch.id, collection_file_id=i) for i in member_ids
            )
        self._intake.notify()
        return self.get(vector_store_id, batch.id)

    def get(self, vector_store_id: str, batch_id: str) -> BatchInfo:
        with self._db.session() as session:
            batch = self._find(session, vector_store_id, batch_id)
            return BatchInfo(batch, count_files(session, *in_batch(batch.id)))

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
            return member_page(session, in_batch(batch.id), page, state)

    def cancel(self, vector_store_id: str, batch_id: str) -> BatchInfo:
        with self._db.session(write=True) as session:
            batch = self._find(session, vector_store_id, batch_id)
            cancel_waiting(session, batch.id)
            batch.cancelled = True
        return self.get(vector_store_id, batch_id)

    def _find(self, session: Session, vector_store_id: str, batch_id: str) -> FileBatch:
        store = _find_store(session, vector_store_id, owner=self._owner)
        batch = session.get(FileBatch, batch_id)
        if batch is None or batch.collection_id != store.id:
            raise NotFoundError(
                f"file batch '{batch_id}' not found in vector store '{vector_store_id}'",
                param="batch_id",
            )
        return batch


def _find_store(session: Session, vector_store_id: str, *, owner: Owner | None) -> Collection:
    return find_collection(session, vector_store_id, owner=owner, param="vector_store_id")
