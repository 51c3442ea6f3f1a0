"""Queries about chunks as ingestion and reconciliation see them: a file's chunks swapped
for new ones, which chunks exist and which are searchable, and what embedding one again
needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.orm import Session

from mmstack.store.models import Chunk, CollectionFile, FileStatus, StoredFile


def replace_chunks(session: Session, member_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Delete the collection file's chunks and insert `rows` (column values) instead
    (keyword rows follow through the database's triggers); returns the new ids, in the
    order of `rows`."""
    session.execute(delete(Chunk).where(Chunk.collection_file_id == member_id))
    ids = session.scalars(
        insert(Chunk).returning(Chunk.id, sort_by_parameter_order=True), rows
    ).all()
    return list(ids)


def chunk_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Chunk)) or 0


def all_chunk_ids(session: Session) -> set[int]:
    return set(session.scalars(select(Chunk.id)))


def searchable_chunk_ids(session: Session) -> set[int]:
    """The ids of the chunks of completed collection files."""
    return set(
        session.scalars(
            select(Chunk.id)
            .join(CollectionFile, CollectionFile.id == Chunk.collection_file_id)
            .where(CollectionFile.status == FileStatus.COMPLETED)
        )
    )


ChunkRow = Row[Chunk, list[str], str, int]  # a chunk, its tags, media type, file's creation


def chunks_to_embed(session: Session, ids: list[int]) -> Sequence[ChunkRow]:
    """The chunks with these ids, each with what its vector's payload holds besides them:
    its collection file's tags, its file's media type and creation time."""
    stmt = (
        select(Chunk, CollectionFile.tags, StoredFile.media_type, StoredFile.created_at)
        .join(CollectionFile, CollectionFile.id == Chunk.collection_file_id)
        .join(StoredFile, StoredFile.id == Chunk.file_id)
        .where(Chunk.id.in_(ids))
    )
    return session.execute(stmt).all()
