"""Queries about stored files (the Files API's files and those uploaded into a
collection): finding, paging, their derived images and what parsing learned about them,
deleting."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.store.blob_refs import blobs_of, unused_blobs
from mmstack.store.models import Chunk, FileAsset, StoredFile
from mmstack.store.ownership import Owner, owns_file
from mmstack.store.pagination import Page, PageRequest, paginate_by_id


def find_file(session: Session, file_id: str, *, owner: Owner | None) -> StoredFile:
    """A file `owner` may see, or NotFoundError."""
    stored = session.scalar(select(StoredFile).where(StoredFile.id == file_id, owns_file(owner)))
    if stored is None:
        raise NotFoundError(f"file '{file_id}' not found", param="file_id")
    return stored


def file_page(
    session: Session, owner: Owner | None, page: PageRequest, *, purpose: str | None = None
) -> Page[StoredFile]:
    """A page of the files `owner` may see (of `purpose`, when given); cursors are ids."""
    every = select(StoredFile).where(owns_file(owner))
    stmt = every if purpose is None else every.where(StoredFile.purpose == purpose)
    key = (StoredFile.created_at, StoredFile.id)
    return paginate_by_id(session, stmt, key, StoredFile.id, page, cursors_in=every)


def file_asset(session: Session, file_id: str, key: str) -> FileAsset | None:
    """An image derived from the file, by its blob key."""
    return session.get(FileAsset, (file_id, key))


def asset_keys(session: Session, file_id: str) -> set[str]:
    """The blob keys of the images derived from the file."""
    return set(session.scalars(select(FileAsset.key).where(FileAsset.file_id == file_id)))


def set_media_info(
    session: Session, file_id: str, info: dict[str, Any] | None, thumbnail: str | None
) -> None:
    """Record what parsing learned about the file, and the derived image showing it."""
    session.execute(
        update(StoredFile)
        .where(StoredFile.id == file_id)
        .values(media_info=info, thumbnail=thumbnail)
    )


def set_missing_picture_hash(session: Session, file_id: str, picture_hash: str) -> None:
    """Give the file its perceptual hash, unless it has one."""
    session.execute(
        update(StoredFile)
        .where(StoredFile.id == file_id, StoredFile.perceptual_hash.is_(None))
        .values(perceptual_hash=picture_hash)
    )


def delete_file(session: Session, file_id: str) -> tuple[list[int], list[str]]:
    """Delete the file and, by cascade, its memberships, chunks (with their keyword rows),
    tags and jobs; returns the ids of its chunks and the digests of the blobs no file uses
    any more (to delete once this commits)."""
    digests = blobs_of(session, [file_id])
    chunk_ids = list(session.scalars(select(Chunk.id).where(Chunk.file_id == file_id)))
    session.execute(delete(StoredFile).where(StoredFile.id == file_id))
    session.flush()
    return chunk_ids, unused_blobs(session, digests)
