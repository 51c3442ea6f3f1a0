"""Collections, the one service behind the native API's collections and OpenAI's vector
stores (a vector store is a collection: same id, same files, same search).

Deleting a collection deletes its chunks and vectors and the files only it used;
standalone files (uploaded through /v1/files) stay. Removing a file from a collection keeps
it when it is standalone or another collection still uses it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from sqlalchemy.orm import Session

from mmstack.errors import ConflictError, PermissionDeniedError
from mmstack.index.attribute_filter import AttributeFilter, matches
from mmstack.index.vector import VectorFilter, VectorIndex
from mmstack.knowledge.intake import Intake
from mmstack.knowledge.labels import check_label
from mmstack.knowledge.members import Attributes, FileToAttach, attach_files, indexed_text
from mmstack.store import collections as rows
from mmstack.store.blob_refs import drop_orphan_files
from mmstack.store.blobs import BlobStore
from mmstack.store.db import Database
from mmstack.store.file_states import FileCounts, FileState, count_files
from mmstack.store.models import DEFAULT_TEAM_ID, Chunk, Collection, CollectionFile, new_id
from mmstack.store.ownership import Owner, OwnerScoped
from mmstack.store.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    collection: Collection
    file_counts: FileCounts
    chunk_count: int
    usage_bytes: int  # the size of its files

    @property
    def id(self) -> str:
        return self.collection.id

    @property
    def status(self) -> Literal["in_progress", "completed"]:
        return "in_progress" if self.file_counts.waiting_or_running else "completed"


class CollectionService(OwnerScoped):
    # The request parameter a collection is named by, for errors: `collection` in the
    # native API, `vector_store_id` in OpenAI's (see `addressed_as`).
    _param = "collection"

    def __init__(
        self, db: Database, vectors: VectorIndex, blobs: BlobStore, intake: Intake
    ) -> None:
        self._db = db
        self._vectors = vectors
        self._blobs = blobs
        self._intake = intake

    def addressed_as(self, param: str) -> Self:
        """A copy whose not-found errors name the request parameter `param`."""
        named = copy.copy(self)
        named._param = param
        return named

    def create(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        files: Sequence[FileToAttach] = (),
        unique_name: bool = True,
    ) -> CollectionInfo:
        """A new collection, with `files` attached and queued. Without a name, it is
        named by its id. A taken name is a ConflictError unless not `unique_name` (OpenAI's
        vector stores may share a name)."""
        collection_id = new_id("vs_")
        with self._db.session(write=True) as session:
            collection = self.create_in(
                session,
                collection_id if name is None else name,
                description=description,
                metadata=metadata,
                collection_id=collection_id,
                unique_name=unique_name,
            )
            attach_files(session, self._intake, collection.id, files, owner=self._owner)
        if files:
            self._intake.notify()
        return self.get(collection.id)

    def create_in(
        self,
        session: Session,
        name: str,
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        collection_id: str | None = None,
        unique_name: bool = True,
    ) -> Collection:
        """Add a collection inside the caller's transaction (see `create`)."""
        team_id = team_of(self._owner)
        name = check_name(session, name, team_id=team_id, unique=unique_name)
        collection = Collection(
            name=name, team_id=team_id, description=description, metadata_=metadata or {}
        )
        if collection_id is not None:
            collection.id = collection_id
        session.add(collection)
        session.flush()
        return collection

    def list_all(self) -> list[CollectionInfo]:
        with self._db.session() as session:
            return [_info(session, c) for c in rows.collections_of(session, self._owner)]

    def list_rows(self) -> list[Collection]:
        """The collections alone, oldest first: no counts (cheap, for listings of names)."""
        with self._db.session() as session:
            return rows.collections_of(session, self._owner)

    def list_page(self, page: PageRequest) -> Page[CollectionInfo]:
        with self._db.session() as session:
            found = rows.collection_page(session, self._owner, page)
            return Page([_info(session, c) for c in found.items], found.has_more)

    def get(self, id_or_name: str) -> CollectionInfo:
        with self._db.session() as session:
            return _info(session, self._find(session, id_or_name))

    def row(self, id_or_name: str) -> Collection:
        """The collection alone (no counts)."""
        with self._db.session() as session:
            return self._find(session, id_or_name)

    def resolve_id(self, id_or_name: str) -> str:
        return self.resolve_ids([id_or_name])[0]

    def resolve_ids(self, ids_or_names: Sequence[str]) -> tuple[str, ...]:
        """The ids of the collections named (by id or name), in one session; an unknown
        one (or another team's) is a NotFoundError."""
        with self._db.session() as session:
            return tuple(self._find(session, c).id for c in ids_or_names)

    def update(
        self,
        id_or_name: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        unique_name: bool = True,
    ) -> CollectionInfo:
        """Rename, describe and/or replace the metadata; a None argument leaves it as it is
        (an empty description removes it). A taken name: see `create`."""
        with self._db.session(write=True) as session:
            collection = self._find(session, id_or_name)
            if name is not None:
                collection.name = check_name(
                    session,
                    name,
                    team_id=collection.team_id,
                    current_id=collection.id,
                    unique=unique_name,
                )
            if description is not None:
                collection.description = description or None
            if metadata is not None:
                collection.metadata_ = dict(metadata)
            collection_id = collection.id
        return self.get(collection_id)

    def delete(self, id_or_name: str) -> str:
        """Delete the collection, its chunks and vectors, and the files and blobs no other
        collection uses; standalone files stay. Returns the collection id."""
        with self._db.session(write=True) as session:
            collection = self._find(session, id_or_name)
            file_ids = rows.delete_collection(session, collection.id)
            orphans = drop_orphan_files(session, file_ids)
        self._vectors.delete_where(VectorFilter(collection_ids=[collection.id]))
        self._drop_blobs(orphans)
        return collection.id

    # The files of a collection

    def attach(
        self, id_or_name: str, file_id: str, *, attributes: Attributes | None = None
    ) -> CollectionFile:
        """Put an uploaded file into the collection and queue its ingestion."""
        with self._db.session(write=True) as session:
            collection = self._find(session, id_or_name)
            (member,) = attach_files(
                session,
                self._intake,
                collection.id,
                [FileToAttach(file_id, attributes)],
                owner=self._owner,
            )
        self._intake.notify()
        return member

    def files(self, id_or_name: str, *, status: str | None = None) -> list[CollectionFile]:
        """Every file of the collection (with `status`, when given)."""
        with self._db.session() as session:
            collection = self._find(session, id_or_name)
            return rows.members_of(session, collection.id, status=status)

    def file_page(
        self, id_or_name: str, page: PageRequest, *, state: FileState | None = None
    ) -> Page[CollectionFile]:
        with self._db.session() as session:
            collection = self._find(session, id_or_name)
            in_collection = [CollectionFile.collection_id == collection.id]
            return rows.member_page(session, in_collection, page, state)

    def matching_file_ids(self, collection_ids: Sequence[str], flt: AttributeFilter) -> list[str]:
        """The completed files of the collections whose attributes match `flt`."""
        with self._db.session() as session:
            return [
                file_id
                for collection_id in collection_ids
                for file_id in files_matching(session, collection_id, flt)
            ]

    def file(self, id_or_name: str, file_id: str) -> CollectionFile:
        with self._db.session() as session:
            return rows.find_member(session, self._find(session, id_or_name).id, file_id)

    def update_file(self, id_or_name: str, file_id: str, attributes: Attributes) -> CollectionFile:
        with self._db.session(write=True) as session:
            member = rows.find_member(session, self._find(session, id_or_name).id, file_id)
            member.attributes = dict(attributes)
        return member

    def file_text(self, id_or_name: str, file_id: str) -> str:
        """The text the file was indexed from; empty until its ingestion completes."""
        with self._db.session() as session:
            return indexed_text(
                session, rows.find_member(session, self._find(session, id_or_name).id, file_id)
            )

    def file_passages(self, id_or_name: str, file_id: str) -> list[Chunk]:
        """The passages the file was indexed as, in order, each with where it is (page,
        region, seconds): what a viewer lays out as a transcript or over a picture."""
        with self._db.session() as session:
            member = rows.find_member(session, self._find(session, id_or_name).id, file_id)
            return rows.chunks_of(session, member.id)

    def delete_file(self, id_or_name: str, file_id: str) -> None:
        """Remove a file from the collection: its chunks, vectors, and the file and its
        blob when nothing else uses them."""
        with self._db.session(write=True) as session:
            member = rows.find_member(session, self._find(session, id_or_name).id, file_id)
            chunk_ids = rows.chunk_ids_of_member(session, member.id)
            session.delete(member)
            session.flush()
            orphans = drop_orphan_files(session, [file_id])
        self._vectors.delete(chunk_ids)
        self._drop_blobs(orphans)

    def _drop_blobs(self, digests: list[str]) -> None:
        for digest in digests:
            self._blobs.delete(digest)

    def _find(self, session: Session, id_or_name: str) -> Collection:
        return rows.find_collection(session, id_or_name, owner=self._owner, param=self._param)


def _info(session: Session, collection: Collection) -> CollectionInfo:
    return CollectionInfo(
        collection,
        count_files(session, CollectionFile.collection_id == collection.id),
        rows.chunk_count(session, collection.id),
        rows.usage_bytes(session, collection.id),
    )


def files_matching(session: Session, collection_id: str, flt: AttributeFilter) -> list[str]:
    """The collection's completed files whose attributes match `flt`."""
    attributes = rows.completed_attributes(session, collection_id)
    return [file_id for file_id, attrs in attributes.items() if matches(flt, attrs)]


def team_of(owner: Owner | None) -> str:
    """The team new data of `owner` goes to; a key limited to some collections makes none."""
    if owner is None:
        return DEFAULT_TEAM_ID
    if owner.collection_ids is not None:
        raise PermissionDeniedError(
            "this API key is limited to some collections and cannot make new ones"
        )
    return owner.team_id


def check_name(
    session: Session,
    name: str,
    *,
    team_id: str,
    current_id: str | None = None,
    unique: bool = True,
) -> str:
    """`name` stripped, if it can name a collection of the team (1 to 256 characters, and
    unused when `unique`). Two requests at once may both take a name (no constraint holds
    it: vector stores may share names); then the name is ambiguous and ids address them."""
    name = check_label(name, what="collection name", param="name", max_length=256)
    if not unique:
        return name
    holder = rows.collection_named(session, name, team_id=team_id)
    if holder is not None and holder != current_id:
        raise name_taken(name)
    return name


def name_taken(name: str) -> ConflictError:
    return ConflictError(f"a collection named '{name}' already exists", param="name")
