"""Vector stores (OpenAI's name for a collection) and the files attached to them.

A vector store is a collection: same id (`vs_…`), same files, same search. Files are
attached by id (see `IngestionService.attach_in`); a vector store file's id is its file's.
Deleting a vector store keeps standalone files; detaching a file keeps it when it is
standalone or another collection still uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from mmstack.ingest.collections import (
    CollectionService,
    check_name,
    find_collection,
    find_member,
)
from mmstack.ingest.file_states import FileState, StateCounts, count_states, state_condition
from mmstack.ingest.files import find_file
from mmstack.ingest.pagination import Page, PageRequest, paginate, unknown_cursor
from mmstack.ingest.service import IngestionService
from mmstack.store.db import Database
from mmstack.store.models import (
    Chunk,
    Collection,
    CollectionFile,
    FileStatus,
    StoredFile,
    new_id,
)
from mmstack.store.ownership import Owner, OwnerScoped, owns_collection

Attributes = dict[str, str | float | bool]


@dataclass(frozen=True, slots=True)
class FileToAttach:
    file_id: str
    attributes: Attributes | None = None


@dataclass(frozen=True, slots=True)
class VectorStoreInfo:
    collection: Collection
    file_counts: StateCounts
    usage_bytes: int

    @property
    def status(self) -> Literal["in_progress", "completed"]:
        return "in_progress" if self.file_counts.in_progress else "completed"


def find_store(session: Session, vector_store_id: str, *, owner: Owner | None) -> Collection:
    return find_collection(session, vector_store_id, owner=owner, param="vector_store_id")


def attach_files(
    session: Session,
    ingestion: IngestionService,
    collection_id: str,
    files: Sequence[FileToAttach],
    *,
    owner: Owner | None,
) -> list[CollectionFile]:
    """Attach every file inside the caller's transaction; an unknown id fails them all."""
    stored = {f.file_id: find_file(session, f.file_id, owner=owner) for f in files}
    return [
        ingestion.attach_in(session, collection_id, stored[f.file_id], attributes=f.attributes)[0]
        for f in files
    ]


def member_page(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    page: PageRequest,
    state: FileState | None,
) -> Page[CollectionFile]:
    """A page of the collection files matching `where`; cursors are file ids."""

    def cursor(name: str, file_id: str | None) -> tuple[int, int] | None:
        if file_id is None:
            return None
        found = session.execute(
            select(CollectionFile.created_at, CollectionFile.id).where(
                *where, CollectionFile.file_id == file_id
            )
        ).first()
        if found is None:
            raise unknown_cursor(name, file_id)
        return found[0], found[1]

    stmt = select(CollectionFile).where(*where)
    if state is not None:
        stmt = stmt.where(state_condition(state))
    return paginate(
        session,
        stmt,
        (CollectionFile.created_at, CollectionFile.id),
        page,
        after_key=cursor("after", page.after),
        before_key=cursor("before", page.before),
    )


class VectorStoreService(OwnerScoped):
    def __init__(
        self,
        db: Database,
        collections: CollectionService,
        ingestion: IngestionService,
    ) -> None:
        self._db = db
        self._collections = collections
        self._ingestion = ingestion

    def _bind_parts(self, owner: Owner) -> None:
        self._collections = self._collections.for_owner(owner)

    def create(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        files: Sequence[FileToAttach] = (),
    ) -> VectorStoreInfo:
        """A new vector store, with `files` attached and queued. Without a name, the
        store is named by its id (collection names are unique)."""
        store_id = new_id("vs_")
        with self._db.session(write=True) as session:
            collection = self._collections.create_in(
                session,
                store_id if name is None else name,
                description=description,
                metadata=metadata,
                collection_id=store_id,
            )
            attach_files(session, self._ingestion, collection.id, files, owner=self._owner)
        if files:
            self._ingestion.notify()
        return self.get(collection.id)

    def list(self, page: PageRequest) -> Page[VectorStoreInfo]:
        def cursor(name: str, store_id: str | None) -> tuple[int, str] | None:
            if store_id is None:
                return None
            found = session.scalar(
                select(Collection).where(Collection.id == store_id, owns_collection(self._owner))
            )
            if found is None:
                raise unknown_cursor(name, store_id)
            return found.created_at, found.id

        with self._db.session() as session:
            stores = paginate(
                session,
                select(Collection).where(owns_collection(self._owner)),
                (Collection.created_at, Collection.id),
                page,
                after_key=cursor("after", page.after),
                before_key=cursor("before", page.before),
            )
            return Page([self._info(session, c) for c in stores.items], stores.has_more)

    def get(self, vector_store_id: str) -> VectorStoreInfo:
        with self._db.session() as session:
            return self._info(session, self._store(session, vector_store_id))

    def resolve_ids(self, vector_store_ids: Sequence[str]) -> tuple[str, ...]:
        """The ids of the stores named (by id or name), in one session; an unknown one (or
        another team's) is a NotFoundError."""
        with self._db.session() as session:
            return tuple(self._store(session, s).id for s in vector_store_ids)

    def update(
        self,
        vector_store_id: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> VectorStoreInfo:
        """Rename and/or replace the metadata; a None argument leaves it as it is."""
        with self._db.session(write=True) as session:
            collection = self._store(session, vector_store_id)
            if name is not None:
                collection.name = check_name(
                    session, name, team_id=collection.team_id, current_id=collection.id
                )
            if metadata is not None:
                collection.metadata_ = dict(metadata)
        return self.get(vector_store_id)

    def delete(self, vector_store_id: str) -> str:
        """Delete the store, its chunks and vectors; standalone files stay."""
        with self._db.session() as session:
            store_id = self._store(session, vector_store_id).id
        return self._collections.delete(store_id)

    # Files of a vector store

    def attach(
        self, vector_store_id: str, file_id: str, *, attributes: Attributes | None = None
    ) -> CollectionFile:
        with self._db.session(write=True) as session:
            store = self._store(session, vector_store_id)
            (member,) = attach_files(
                session,
                self._ingestion,
                store.id,
                [FileToAttach(file_id, attributes)],
                owner=self._owner,
            )
        self._ingestion.notify()
        return member

    def files(
        self, vector_store_id: str, page: PageRequest, *, state: FileState | None = None
    ) -> Page[CollectionFile]:
        with self._db.session() as session:
            store = self._store(session, vector_store_id)
            return member_page(session, [CollectionFile.collection_id == store.id], page, state)

    def file(self, vector_store_id: str, file_id: str) -> CollectionFile:
        with self._db.session() as session:
            return find_member(session, self._store(session, vector_store_id).id, file_id)

    def update_file(
        self, vector_store_id: str, file_id: str, attributes: Attributes
    ) -> CollectionFile:
        with self._db.session(write=True) as session:
            member = find_member(session, self._store(session, vector_store_id).id, file_id)
            member.attributes = dict(attributes)
        return member

    def detach(self, vector_store_id: str, file_id: str) -> None:
        with self._db.session() as session:
            store_id = self._store(session, vector_store_id).id
        self._collections.delete_file(store_id, file_id)

    def file_text(self, vector_store_id: str, file_id: str) -> str:
        """The text the file was indexed from, rebuilt from its chunks (which overlap);
        empty until its ingestion completes."""
        with self._db.session() as session:
            member = find_member(session, self._store(session, vector_store_id).id, file_id)
            if member.status != FileStatus.COMPLETED:
                return ""
            chunks = session.execute(
                select(Chunk.text, Chunk.char_start, Chunk.char_end)
                .where(Chunk.collection_file_id == member.id)
                .order_by(Chunk.seq)
            ).all()
        parts: list[str] = []
        covered = 0
        for text, start, end in chunks:
            if end <= covered:
                continue
            if start >= covered:
                parts.append(("\n\n" if parts else "") + text)
            else:
                parts.append(text[covered - start :])
            covered = end
        return "".join(parts)

    def _store(self, session: Session, vector_store_id: str) -> Collection:
        return find_store(session, vector_store_id, owner=self._owner)

    @staticmethod
    def _info(session: Session, collection: Collection) -> VectorStoreInfo:
        in_store = CollectionFile.collection_id == collection.id
        usage = session.scalar(
            select(func.coalesce(func.sum(StoredFile.size_bytes), 0))
            .join(CollectionFile, CollectionFile.file_id == StoredFile.id)
            .where(in_store)
        )
        return VectorStoreInfo(collection, count_states(session, in_store), int(usage or 0))
