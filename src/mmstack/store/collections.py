"""Queries about collections and the files in them (the repository the services of
`mmstack.knowledge` use): finding what an owner may see, listing, counting, deleting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.store.file_states import FileState, state_condition
from mmstack.store.models import Chunk, Collection, CollectionFile, FileStatus, StoredFile
from mmstack.store.ownership import Owner, owns_collection
from mmstack.store.pagination import Page, PageRequest, paginate_by_id


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
        if len(named) > 1:  # vector stores sharing a name, or two teams' asked without one
            raise InvalidRequestError(
                f"several collections are named '{id_or_name}'; use its id", param=param
            )
        collection = named[0] if named else None
    if collection is None:
        raise NotFoundError(f"collection '{id_or_name}' not found", param=param)
    return collection


def collection_named(session: Session, name: str, *, team_id: str) -> str | None:
    """The id of the team's collection called `name`, if there is one."""
    return session.scalar(
        select(Collection.id).where(Collection.name == name, Collection.team_id == team_id)
    )


def team_collection_ids(session: Session, team_id: str, ids: Sequence[str]) -> set[str]:
    """Which of `ids` are collections of the team."""
    return set(
        session.scalars(
            select(Collection.id).where(Collection.id.in_(ids), Collection.team_id == team_id)
        )
    )


def collections_of(session: Session, owner: Owner | None) -> list[Collection]:
    """Every collection `owner` may see, oldest first."""
    return list(
        session.scalars(
            select(Collection).where(owns_collection(owner)).order_by(Collection.created_at)
        )
    )


def collection_page(session: Session, owner: Owner | None, page: PageRequest) -> Page[Collection]:
    """A page of the collections `owner` may see; cursors are collection ids."""
    stmt = select(Collection).where(owns_collection(owner))
    key = (Collection.created_at, Collection.id)
    return paginate_by_id(session, stmt, key, Collection.id, page)


def chunk_count(session: Session, collection_id: str) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Chunk).where(Chunk.collection_id == collection_id)
        )
        or 0
    )


def usage_bytes(session: Session, collection_id: str) -> int:
    """The size of the collection's files."""
    usage = session.scalar(
        select(func.coalesce(func.sum(StoredFile.size_bytes), 0))
        .join(CollectionFile, CollectionFile.file_id == StoredFile.id)
        .where(CollectionFile.collection_id == collection_id)
    )
    return int(usage or 0)


def delete_collection(session: Session, collection_id: str) -> list[str]:
    """Delete the collection (its memberships and chunks cascade); returns the ids of the
    files that were in it."""
    file_ids = list(
        session.scalars(
            select(CollectionFile.file_id).where(CollectionFile.collection_id == collection_id)
        )
    )
    session.execute(delete(Collection).where(Collection.id == collection_id))
    return file_ids


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


def members_of(
    session: Session, collection_id: str, *, status: str | None = None
) -> list[CollectionFile]:
    """The files of a collection (with `status`, when given), in the order they came."""
    stmt = select(CollectionFile).where(CollectionFile.collection_id == collection_id)
    if status:
        stmt = stmt.where(CollectionFile.status == status)
    return list(session.scalars(stmt.order_by(CollectionFile.id)))


def member_page(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    page: PageRequest,
    state: FileState | None,
) -> Page[CollectionFile]:
    """A page of the collection files matching `where`; cursors are file ids."""
    every = select(CollectionFile).where(*where)
    stmt = every if state is None else every.where(state_condition(state))
    key = (CollectionFile.created_at, CollectionFile.id)
    return paginate_by_id(session, stmt, key, CollectionFile.file_id, page, cursors_in=every)


def member_with_bytes(session: Session, collection_id: str, sha256: str) -> CollectionFile | None:
    """The collection's file uploaded with these bytes, if any."""
    return session.scalar(
        select(CollectionFile).where(
            CollectionFile.collection_id == collection_id, CollectionFile.sha256 == sha256
        )
    )


def member_of_file(session: Session, collection_id: str, file_id: str) -> CollectionFile | None:
    return session.scalar(
        select(CollectionFile).where(
            CollectionFile.collection_id == collection_id, CollectionFile.file_id == file_id
        )
    )


def picture_hashes(session: Session, collection_id: str) -> list[tuple[int, str]]:
    """(membership id, perceptual hash) of the collection's pictures that have one."""
    rows = session.execute(
        select(CollectionFile.id, StoredFile.perceptual_hash)
        .join(StoredFile, StoredFile.id == CollectionFile.file_id)
        .where(
            CollectionFile.collection_id == collection_id,
            StoredFile.perceptual_hash.is_not(None),
        )
    )
    return [(member_id, picture_hash) for member_id, picture_hash in rows if picture_hash]


def chunk_ids_of_member(session: Session, member_id: int) -> list[int]:
    return list(session.scalars(select(Chunk.id).where(Chunk.collection_file_id == member_id)))


def chunk_spans(session: Session, member_id: int) -> list[tuple[str, int, int]]:
    """(text, start, end) of a file's chunks in a collection, in order."""
    rows = session.execute(
        select(Chunk.text, Chunk.char_start, Chunk.char_end)
        .where(Chunk.collection_file_id == member_id)
        .order_by(Chunk.seq)
    )
    return [(text, start, end) for text, start, end in rows]


def chunks_of(session: Session, member_id: int) -> list[Chunk]:
    """A file's chunks in a collection, in order, with their anchors."""
    return list(
        session.scalars(
            select(Chunk).where(Chunk.collection_file_id == member_id).order_by(Chunk.seq)
        )
    )


def completed_attributes(
    session: Session, collection_id: str, file_ids: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The attributes of the collection's completed files (of `file_ids` only, when given)."""
    stmt = select(CollectionFile.file_id, CollectionFile.attributes).where(
        CollectionFile.collection_id == collection_id,
        CollectionFile.status == FileStatus.COMPLETED,
    )
    if file_ids is not None:
        stmt = stmt.where(CollectionFile.file_id.in_(set(file_ids)))
    return {file_id: dict(attrs) for file_id, attrs in session.execute(stmt)}
