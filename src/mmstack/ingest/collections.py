"""Collections: create, list, get, delete, and the files in them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mmstack.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from mmstack.index.vector import VectorFilter, VectorIndex
from mmstack.ingest.labels import check_label
from mmstack.store.blobs import BlobStore
from mmstack.store.db import Database
from mmstack.store.models import (
    DEFAULT_TEAM_ID,
    Chunk,
    Collection,
    CollectionFile,
    FileAsset,
    FileStatus,
    StoredFile,
)
from mmstack.store.ownership import Owner, OwnerScoped, owns_collection


@dataclass(frozen=True, slots=True)
class FileCounts:
    queued: int = 0
    in_progress: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.in_progress + self.completed + self.failed


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    collection: Collection
    file_counts: FileCounts
    chunk_count: int


def find_collection(
    session: Session, id_or_name: str, *, owner: Owner | None, param: str = "collection"
) -> Collection:
    """A collection `owner` may see, by id or by name, or NotFoundError."""
    visible = owns_collection(owner)
    collection = session.scalar(select(Collection).where(Collection.id == id_or_name, visible))
    if collection is None:
        named = session.scalars(
            select(Collection).where(Collection.name == id_or_name, visible).limit(2)
        ).all()
        if len(named) > 1:  # the same name in two teams, asked without a team
            raise InvalidRequestError(
                f"several teams have a collection named '{id_or_name}'; use its id", param=param
            )
        collection = named[0] if named else None
    if collection is None:
        raise NotFoundError(f"collection '{id_or_name}' not found", param=param)
    return collection


def team_of(owner: Owner | None) -> str:
    """The team new data of `owner` goes to; a key limited to some collections makes none."""
    if owner is None:
        return DEFAULT_TEAM_ID
    if owner.collection_ids is not None:
        raise PermissionDeniedError(
            "this API key is limited to some collections and cannot make new ones"
        )
    return owner.team_id


def check_name(session: Session, name: str, *, team_id: str, current_id: str | None = None) -> str:
    """`name` stripped, if it can name a collection of the team (1 to 256 characters,
    unused)."""
    name = check_label(name, what="collection name", param="name", max_length=256)
    holder = session.scalar(
        select(Collection.id).where(Collection.name == name, Collection.team_id == team_id)
    )
    if holder is not None and holder != current_id:
        raise _name_taken(name)
    return name


def _name_taken(name: str) -> ConflictError:
    return ConflictError(f"a collection named '{name}' already exists", param="name")


def blobs_of(session: Session, file_ids: list[str]) -> list[str]:
    """The digests of the files' own bytes and of the images derived from them."""
    if not file_ids:
        return []
    own = session.scalars(select(StoredFile.sha256).where(StoredFile.id.in_(file_ids)))
    derived = session.scalars(select(FileAsset.key).where(FileAsset.file_id.in_(file_ids)))
    return sorted({*own, *derived})


def unused_blobs(session: Session, digests: list[str]) -> list[str]:
    """The digests no file or derived image refers to any more (their blobs can go once
    this commits)."""
    if not digests:
        return []
    used = set(session.scalars(select(StoredFile.sha256).where(StoredFile.sha256.in_(digests))))
    used.update(session.scalars(select(FileAsset.key).where(FileAsset.key.in_(digests))))
    return sorted({d for d in digests if d not in used})


def find_member(session: Session, collection_id: str, file_id: str) -> CollectionFile:
    """A file's membership in a collection, or NotFoundError."""
    member = session.scalar(
        select(CollectionFile).where(
            CollectionFile.collection_id == collection_id, CollectionFile.file_id == file_id
        )
    )
    if member is None:
        raise NotFoundError(
            f"file '{file_id}' not found in collection '{collection_id}'", param="file_id"
        )
    return member


class CollectionService(OwnerScoped):
    def __init__(self, db: Database, vectors: VectorIndex, blobs: BlobStore) -> None:
        self._db = db
        self._vectors = vectors
        self._blobs = blobs

    def create(self, name: str, *, description: str | None = None) -> Collection:
        with self._db.session(write=True) as session:
            return self.create_in(session, name, description=description)

    def create_in(
        self,
        session: Session,
        name: str,
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        collection_id: str | None = None,
    ) -> Collection:
        """Add a collection inside the caller's transaction; names are unique per team."""
        team_id = team_of(self._owner)
        name = check_name(session, name, team_id=team_id)
        collection = Collection(
            name=name, team_id=team_id, description=description, metadata_=metadata or {}
        )
        if collection_id is not None:
            collection.id = collection_id
        session.add(collection)
        try:
            session.flush()
        except IntegrityError:
            raise _name_taken(name) from None  # a concurrent create won
        return collection

    def list_all(self) -> list[CollectionInfo]:
        with self._db.session() as session:
            collections = session.scalars(
                select(Collection)
                .where(owns_collection(self._owner))
                .order_by(Collection.created_at)
            )
            return [self._info(session, c) for c in collections]

    def get(self, id_or_name: str) -> CollectionInfo:
        with self._db.session() as session:
            return self._info(session, self._find(session, id_or_name))

    def resolve_id(self, id_or_name: str) -> str:
        with self._db.session() as session:
            return self._find(session, id_or_name).id

    def files(self, collection_id: str, *, status: str | None = None) -> list[CollectionFile]:
        with self._db.session() as session:
            self._find(session, collection_id)
            stmt = select(CollectionFile).where(CollectionFile.collection_id == collection_id)
            if status:
                stmt = stmt.where(CollectionFile.status == status)
            return list(session.scalars(stmt.order_by(CollectionFile.id)))

    def file(self, collection_id: str, file_id: str) -> CollectionFile:
        with self._db.session() as session:
            return find_member(session, self._find(session, collection_id).id, file_id)

    def delete(self, id_or_name: str) -> str:
        """Delete the collection, its chunks and vectors, and the files and blobs no other
        collection uses; standalone files stay. Returns the collection id."""
        with self._db.session(write=True) as session:
            collection = self._find(session, id_or_name)
            file_ids = list(
                session.scalars(
                    select(CollectionFile.file_id).where(
                        CollectionFile.collection_id == collection.id
                    )
                )
            )
            session.execute(delete(Collection).where(Collection.id == collection.id))
            orphans = self._orphan_files(session, file_ids)
        self._vectors.delete_where(VectorFilter(collection_ids=[collection.id]))
        self._drop_blobs(orphans)
        return collection.id

    def delete_file(self, collection_id: str, file_id: str) -> None:
        """Remove a file from a collection: its chunks, vectors, and its blob when unused."""
        with self._db.session(write=True) as session:
            member = find_member(session, self._find(session, collection_id).id, file_id)
            chunk_ids = list(
                session.scalars(select(Chunk.id).where(Chunk.collection_file_id == member.id))
            )
            session.delete(member)
            session.flush()
            orphans = self._orphan_files(session, [file_id])
        self._vectors.delete(chunk_ids)
        self._drop_blobs(orphans)

    def _orphan_files(self, session: Session, file_ids: list[str]) -> list[str]:
        """Delete the files no collection references any more, except standalone ones;
        return the sha256s of the blobs no file uses any more."""
        if not file_ids:
            return []
        still_used = set(
            session.scalars(
                select(CollectionFile.file_id).where(CollectionFile.file_id.in_(file_ids))
            )
        )
        unused = list(
            session.scalars(
                select(StoredFile.id).where(
                    StoredFile.id.in_([f for f in file_ids if f not in still_used]),
                    StoredFile.standalone.is_(False),
                )
            )
        )
        if not unused:
            return []
        digests = blobs_of(session, unused)
        session.execute(delete(StoredFile).where(StoredFile.id.in_(unused)))
        session.flush()
        return unused_blobs(session, digests)

    def _drop_blobs(self, digests: list[str]) -> None:
        for digest in digests:
            self._blobs.delete(digest)

    def _find(self, session: Session, id_or_name: str) -> Collection:
        return find_collection(session, id_or_name, owner=self._owner)

    @staticmethod
    def _info(session: Session, collection: Collection) -> CollectionInfo:
        counts: dict[str, int] = dict(
            session.execute(
                select(CollectionFile.status, func.count())
                .where(CollectionFile.collection_id == collection.id)
                .group_by(CollectionFile.status)
            ).all()
        )
        chunks = session.scalar(
            select(func.count()).select_from(Chunk).where(Chunk.collection_id == collection.id)
        )
        return CollectionInfo(
            collection,
            FileCounts(**{s.value: counts.get(s.value, 0) for s in FileStatus}),
            chunks or 0,
        )
