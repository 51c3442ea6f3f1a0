"""Queries for moving a collection between installations (`knowledge/collection_archive.py`):
its files' derived images, its chunks read in order without holding them all, and which
file ids an installation already uses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from mmstack.store.models import Chunk, FileAsset, StoredFile

READ_BATCH = 1000


def assets_of(session: Session, file_ids: Iterable[str]) -> dict[str, list[FileAsset]]:
    """The images derived from each of the files, by file id."""
    found: dict[str, list[FileAsset]] = {}
    for asset in session.scalars(
        select(FileAsset)
        .where(FileAsset.file_id.in_(sorted(set(file_ids))))
        .order_by(FileAsset.file_id, FileAsset.key)
    ):
        found.setdefault(asset.file_id, []).append(asset)
    return found


def chunks_of_members(session: Session, member_ids: Iterable[int]) -> Iterator[Chunk]:
    """The chunks of these collection files, file by file in seq order, read a batch at a
    time (a collection may hold more chunks than memory should)."""
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), READ_BATCH):
        stmt = (
            select(Chunk)
            .where(Chunk.collection_file_id.in_(ids[start : start + READ_BATCH]))
            .order_by(Chunk.collection_file_id, Chunk.seq)
            .execution_options(yield_per=READ_BATCH)
        )
        yield from session.scalars(stmt)


def file_id_taken(session: Session, file_id: str) -> bool:
    return session.scalar(select(StoredFile.id).where(StoredFile.id == file_id)) is not None
