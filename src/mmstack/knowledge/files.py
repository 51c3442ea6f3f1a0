"""Files on their own (OpenAI's Files API): upload, list, get, content, delete.

A file uploaded here is `standalone`: it exists until deleted, whatever happens to the
collections it is attached to. Deleting any file (standalone or not) removes it from every
collection: its chunks, vectors and, when no other file has the same bytes, its blob.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.index.vector import VectorIndex
from mmstack.knowledge.intake import Intake
from mmstack.store.blobs import BlobStore
from mmstack.store.db import Database
from mmstack.store.files import delete_file, file_asset, file_page, find_file
from mmstack.store.models import StoredFile
from mmstack.store.ownership import OwnerScoped
from mmstack.store.pagination import Page, PageRequest


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
        with self._db.session() as session:
            return file_page(session, self._owner, page, purpose=purpose)

    def get(self, file_id: str) -> StoredFile:
        with self._db.session() as session:
            return find_file(session, file_id, owner=self._owner)

    def content(self, file_id: str) -> tuple[StoredFile, IO[bytes]]:
        """The file and a stream of its bytes (the caller closes it)."""
        stored = self.get(file_id)
        try:
            return stored, self._blobs.open(stored.sha256)
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
            asset = file_asset(session, file_id, key)
            if asset is None:
                raise NotFoundError(f"file '{file_id}' has no image '{key}'", param="thumbnail_id")
            media_type = asset.media_type
        try:
            return media_type, self._blobs.get(key)
        except KeyError:
            message = f"image '{key}' is no longer stored"
            raise NotFoundError(message, param="thumbnail_id") from None

    def delete(
        self, file_id: str, *, confirm: Callable[[Session, StoredFile], bool] | None = None
    ) -> bool:
        """Delete the file and remove it from every collection. `confirm` (retention's)
        runs first in the deleting transaction: False keeps the file, and what it adds to
        the session (an audit event) commits with the deletion. Returns whether the file
        was deleted."""
        with self._db.session(write=True) as session:
            stored = find_file(session, file_id, owner=self._owner)
            if confirm is not None and not confirm(session, stored):
                return False
            chunk_ids, digests = delete_file(session, file_id)
        self._vectors.delete(chunk_ids)
        for digest in digests:
            self._blobs.delete(digest)
        return True
