"""Search filters applied in SQL to chunks, the same fields the vector payload carries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, String, exists, literal_column, select

from mmstack.index.vector import VectorFilter
from mmstack.media_types import Modality, media_types_of
from mmstack.store.models import Chunk, CollectionFile, FileStatus, FileTag, StoredFile

SearchFilter = VectorFilter


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
    stmt: Select[int, float], flt: SearchFilter | None, *, after_matching: bool = False
) -> Select[int, float]:
    """Restrict a select over `Chunk` to chunks of completed files matching `flt`.

    `after_matching` (SQLite): the select already holds the few chunks that matched, and
    the collection condition must not lead SQLite to walk its index over every chunk of
    the collection instead (the unary `+` keeps the planner off that index)."""
    stmt = stmt.join(CollectionFile, CollectionFile.id == Chunk.collection_file_id).where(
        CollectionFile.status == FileStatus.COMPLETED
    )
    if flt is None:
        return stmt
    if flt.collection_ids is not None:
        wanted = list(flt.collection_ids)
        if after_matching:
            stmt = stmt.where(literal_column("+chunks.collection_id", String).in_(wanted))
        else:
            stmt = stmt.where(Chunk.collection_id.in_(wanted))
    if flt.file_ids is not None:
        stmt = stmt.where(Chunk.file_id.in_(list(flt.file_ids)))
    if (
        flt.media_types is not None
        or flt.created_after is not None
        or flt.created_before is not None
    ):
        stmt = stmt.join(StoredFile, StoredFile.id == Chunk.file_id)
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
