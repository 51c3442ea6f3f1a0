"""Queries about stored files (the Files API's files and those uploaded into a
collection): finding, paging, their derived images, deleting."""

from __future__ import annotations

from sqlalchemy import delete, select
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


def delete_file(session: Session, file_id: str) -> tuple[list[int], list[str]]:
    """Delete the file and, by cascade, its memberships, chunks (with their keyword rows),
    tags and jobs; returns the ids of its chunks and the digests of the blobs no file uses
    any more (to delete once this commits)."""
    digests = blobs_of(session, [file_id])
    chunk_ids = list(session.scalars(select(Chunk.id).where(Chunk.file_id == file_id)))
    session.execute(delete(StoredFile).where(StoredFile.id == file_id))
    session.flush()
    return chunk_ids, unused_blobs(session, digests)
