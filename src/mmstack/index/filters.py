"""Search filters applied in SQL to chunks, the same fields the vector payload carries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVarTuple

from sqlalchemy import Select, SQLColumnExpression, String, exists, literal_column, select

from mmstack.index.vector import VectorFilter
from mmstack.media_types import Modality, media_types_of
from mmstack.store.models import Chunk, CollectionFile, FileStatus, FileTag, StoredFile

SearchFilter = VectorFilter
Columns = TypeVarTuple("Columns")


def media_type_filter(
    media_types: Sequence[str] | None, modalities: Sequence[Modality] | None
) -> list[str] | None:
    """The media types a filter allows, given types and kinds of file (both must hold)."""
    if modalities is None:
        return list(media_types) if media_types is not None else None
    allowed = [t for m in dict.fromkeys(modalities) for t in media_types_of(m)]
    if media_types is None:
        return allowed
    return [t for t in media_types if t in allowed]


def searchable_chunks(
    stmt: Select[*Columns], flt: SearchFilter | None, *, after_matching: bool = False
) -> Select[*Columns]:
    """Restrict a select over `Chunk` to chunks of completed files matching `flt`.

    `after_matching` (SQLite): the select already holds the few chunks that matched, and
    the collection condition must not lead SQLite to walk its index over every chunk of
    the collection instead (the unary `+` keeps the planner off that index)."""
    stmt = stmt.join(CollectionFile, CollectionFile.id == Chunk.collection_file_id)
    collection: SQLColumnExpression[str] = (
        literal_column("+chunks.collection_id", String) if after_matching else Chunk.collection_id
    )
    return searchable_collection_files(stmt, flt, collection=collection)


def searchable_collection_files(
    stmt: Select[*Columns],
    flt: SearchFilter | None,
    *,
    collection: SQLColumnExpression[str] = CollectionFile.collection_id,
) -> Select[*Columns]:
    """Restrict a select over `CollectionFile` to completed files matching `flt` (every
    field of a filter is a property of a file in a collection); `collection` is the
    column the collection condition is put on."""
    stmt = stmt.where(CollectionFile.status == FileStatus.COMPLETED)
    if flt is None:
        return stmt
    if flt.collection_ids is not None:
        stmt = stmt.where(collection.in_(list(flt.collection_ids)))
    if flt.file_ids is not None:
        stmt = stmt.where(CollectionFile.file_id.in_(list(flt.file_ids)))
    if (
        flt.media_types is not None
        or flt.created_after is not None
        or flt.created_before is not None
    ):
        stmt = stmt.join(StoredFile, StoredFile.id == CollectionFile.file_id)
        if flt.media_types is not None:
            stmt = stmt.where(StoredFile.media_type.in_(list(flt.media_types)))
        if flt.created_after is not None:
            stmt = stmt.where(StoredFile.created_at >= flt.created_after)
        if flt.created_before is not None:
            stmt = stmt.where(StoredFile.created_at < flt.created_before)
    if flt.tags is not None:
        stmt = stmt.where(
            exists(
                select(FileTag.tag).where(
                    FileTag.collection_file_id == CollectionFile.id, FileTag.tag.in_(list(flt.tags))
                )
            )
        )
    return stmt
