"""Files on their own (OpenAI's Files API): upload, list, get, content, delete.

A file uploaded here is `standalone`: it exists until deleted, whatever happens to the
collections it is attached to. Deleting any file (standalone or not) removes it from every
collection: its chunks, vectors and, when no other file has the same bytes, its blob.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.index.vector import VectorIndex
from mmstack.knowledge.blob_refs import blobs_of, unused_blobs
from mmstack.knowledge.intake import Intake
from mmstack.knowledge.lookup import find_file
from mmstack.store.blobs import BlobStore
from mmstack.store.db import Database
from mmstack.store.models import Chunk, FileAsset, StoredFile
from mmstack.store.ownership import OwnerScoped, owns_file
from mmstack.store.pagination import Page, PageRequest, paginate, unknown_cursor


class FileService(OwnerScoped):
    def __init__(
        self, db: Database, blobs: BlobStore, vectors: VectorIndex, intake: Intake
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._vectors = vectors
        self._intake = intake

    @property
    def max_file_bytes(self) -> int:
        return self._intake.max_file_bytes

    def upload(self, filename: str, data: bytes, *, purpose: str) -> StoredFile:
        """Store a standalone file of the owner's team (see `Intake.upload`)."""
        if self._owner is None:
            return self._intake.upload(filename, data, purpose=purpose)
        return self._intake.upload(filename, data, purpose=purpose, team_id=self._owner.team_id)

    def list(self, page: PageRequest, *, purpose: str | None = None) -> Page[StoredFile]:
        stmt = select(StoredFile).where(owns_file(self._owner))
        if purpose is not None:
            stmt = stmt.where(StoredFile.purpose == purpose)
        key = (StoredFile.created_at, StoredFile.id)
        with self._db.session() as session:
            return paginate(
                session,
                stmt,
                key,
                page,
                after_key=self._cursor(session, "after", page.after),
                before_key=self._cursor(session, "before", page.before),
            )

    def get(self, file_id: str) -> StoredFile:
        with self._db.session() as session:
            return find_file(session, file_id, owner=self._owner)

    def content(self, file_id: str) -> tuple[StoredFile, bytes]:
        stored = self.get(file_id)
        try:
            return stored, self._blobs.get(stored.sha256)
        except KeyError:
            raise NotFoundError(
                f"file '{file_id}' has no stored content: it was rejected when uploaded",
                param="file_id",
            ) from None

    def image(self, file_id: str, key: str) -> tuple[str, bytes]:
        """An image derived from the file (its thumbnail, a video frame, a page render):
        media type and bytes. Only the file's own images are served."""
        with self._db.session() as session:
            find_file(session, file_id, owner=self._owner)
            asset = session.get(FileAsset, (file_id, key))
            if asset is None:
                raise NotFoundError(f"file '{file_id}' has no image '{key}'", param="thumbnail_id")
            media_type = asset.media_type
        try:
            return media_type, self._blobs.get(key)
        except KeyError:
            message = f"image '{key}' is no longer stored"
            raise NotFoundError(message, param="thumbnail_id") from None

    def delete(self, file_id: str) -> None:
        """Delete the file and remove it from every collection."""
        with self._db.session(write=True) as session:
            find_file(session, file_id, owner=self._owner)
            digests = blobs_of(session, [file_id])
            chunk_ids = list(session.scalars(select(Chunk.id).where(Chunk.file_id == file_id)))
            # Memberships, chunks (with their keyword rows), tags and jobs cascade.
            session.execute(delete(StoredFile).where(StoredFile.id == file_id))
            session.flush()
            digests = unused_blobs(session, digests)
        self._vectors.delete(chunk_ids)
        for digest in digests:
            self._blobs.delete(digest)

    def _cursor(self, session: Session, name: str, file_id: str | None) -> tuple[int, str] | None:
        if file_id is None:
            return None
        stored = session.scalar(
            select(StoredFile).where(StoredFile.id == file_id, owns_file(self._owner))
        )
        if stored is None:
            raise unknown_cursor(name, file_id)
        return stored.created_at, stored.id
