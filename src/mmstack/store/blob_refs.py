"""Which blobs files still use: when a file goes, its bytes and derived images go too
unless another file refers to them (blobs are content-addressed and shared)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mmstack.store.models import CollectionFile, FileAsset, StoredFile


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


def referenced_blobs(session: Session) -> set[str]:
    """The digests every file and derived image refers to."""
    referenced = set(session.scalars(select(StoredFile.sha256)))
    referenced.update(session.scalars(select(FileAsset.key)))
    return referenced


def drop_orphan_files(session: Session, file_ids: list[str]) -> list[str]:
    """Delete the files no collection references any more, except standalone ones; return
    the digests of the blobs no file uses any more."""
    if not file_ids:
        return []
    still_used = set(
        session.scalars(select(CollectionFile.file_id).where(CollectionFile.file_id.in_(file_ids)))
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
