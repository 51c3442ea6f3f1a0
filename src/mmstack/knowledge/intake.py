"""Intake: every uploaded file comes in here (bytes -> blob store, by sha256), either
standalone (OpenAI's Files API) or straight into a collection (the same bytes twice in a
collection are one file, and so are two near-identical pictures), and files put into a
collection get the job that makes them searchable (`mmstack.ingest.ingest_job`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mmstack.config.settings import IngestSettings
from mmstack.errors import ConflictError, IngestError, InvalidRequestError, NotFoundError
from mmstack.ingest.ingest_job import INGEST_JOB
from mmstack.ingest.parsers import ParseLimits
from mmstack.knowledge.labels import check_tags
from mmstack.knowledge.uploads import FileTooLargeError, safe_filename, size_limit_message
from mmstack.media.detect import detect_media_type
from mmstack.media.images import upload_hash
from mmstack.media_types import Modality, modality_of
from mmstack.store.blob_refs import unused_blobs
from mmstack.store.blobs import BlobStore, sha256_hex
from mmstack.store.collections import (
    find_member,
    member_of_file,
    member_with_bytes,
    picture_hashes,
)
from mmstack.store.db import Database
from mmstack.store.jobs import JobQueue
from mmstack.store.models import (
    DEFAULT_TEAM_ID,
    Collection,
    CollectionFile,
    FileErrorCode,
    FileStatus,
    FileTag,
    StoredFile,
)

log = logging.getLogger(__name__)


UPLOAD_PURPOSES: Final = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


@dataclass(frozen=True, slots=True)
class AddedFile:
    collection_file: CollectionFile
    created: bool  # False when the same bytes were already in the collection


@dataclass(frozen=True, slots=True)
class Received:
    """An uploaded file, looked at: its safe name, digest and type, and why it cannot be
    ingested (too large, a type no parser reads), if it cannot."""

    filename: str
    size: int
    sha256: str
    media_type: str
    refusal: str | None = None
    refusal_code: FileErrorCode | None = None
    too_large: bool = False


def receive(filename: str, data: bytes, *, max_bytes: int) -> Received:
    name = safe_filename(filename)
    refusal: str | None = None
    refusal_code: FileErrorCode | None = None
    if len(data) > max_bytes:
        refusal, refusal_code = size_limit_message(len(data), max_bytes), FileErrorCode.INVALID_FILE
    try:
        media_type = detect_media_type(name, data[:4096])
    except IngestError as exc:
        media_type = "application/octet-stream"
        if refusal is None:
            refusal, refusal_code = exc.message, FileErrorCode.UNSUPPORTED_FILE
    too_large = len(data) > max_bytes
    return Received(name, len(data), sha256_hex(data), media_type, refusal, refusal_code, too_large)


class Intake:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        queue: JobQueue,
        *,
        ingest: IngestSettings,
        on_enqueue: Callable[[], None] | None = None,
        limits: ParseLimits | None = None,
        duplicate_image_distance: int = -1,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._queue = queue
        self._ingest = ingest
        self._on_enqueue = on_enqueue
        self._limits = limits or ParseLimits(max_bytes=ingest.max_file_bytes)
        self._duplicate_image_distance = duplicate_image_distance

    @property
    def max_file_bytes(self) -> int:
        return self._ingest.max_file_bytes

    def upload(
        self, filename: str, data: bytes, *, purpose: str, team_id: str = DEFAULT_TEAM_ID
    ) -> StoredFile:
        """Store a standalone file. Any type is kept (a collection reports a type it
        cannot index when the file is attached); empty and oversized files are refused."""
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequestError(
                f"purpose must be one of {', '.join(UPLOAD_PURPOSES)}", param="purpose"
            )
        received = receive(filename, data, max_bytes=self.max_file_bytes)
        if not data:
            raise InvalidRequestError("file is empty", param="file")
        if received.too_large and received.refusal is not None:
            raise FileTooLargeError(received.refusal, param="file")
        self._blobs.put(data)
        with self._db.session(write=True) as session:
            stored = StoredFile(
                filename=received.filename,
                media_type=received.media_type,
                size_bytes=received.size,
                sha256=received.sha256,
                purpose=purpose,
                standalone=True,
                team_id=team_id,
            )
            session.add(stored)
        return stored

    def add_file(
        self, collection_id: str, filename: str, data: bytes, *, tags: Sequence[str] = ()
    ) -> AddedFile:
        """Store the bytes and queue their ingestion; the same bytes twice are one file,
        and so is the same picture twice (perceptual hashes within
        `media.duplicate_image_distance` bits).

        Files over the size limit or of an unsupported type are recorded as failed with the
        reason (so a batch reports them), never parsed and never searchable.
        """
        received = receive(filename, data, max_bytes=self.max_file_bytes)
        unique_tags = check_tags(tags)
        digest, media_type = received.sha256, received.media_type
        error, error_code = received.refusal, received.refusal_code
        if error is None:
            # Before the transaction: the write lock is not held during the fsync, and a
            # blob is content-addressed, so storing it twice or in vain is harmless.
            self._blobs.put(data)
        picture_hash = self._picture_hash(media_type, digest) if error is None else None
        with self._db.session(write=True) as session:
            collection = session.get(Collection, collection_id)
            if collection is None:
                raise NotFoundError(f"collection '{collection_id}' not found", param="collection")
            team_id = collection.team_id
            existing = member_with_bytes(session, collection_id, digest)
            if existing is None and picture_hash is not None:
                existing = self._same_picture(session, collection_id, picture_hash)
            if existing is not None and existing.sha256 == digest:
                return AddedFile(existing, created=False)
            if existing is not None:
                unused = unused_blobs(session, [digest])
        if existing is not None:  # the same picture in other bytes: keep the first
            for blob in unused:
                self._blobs.delete(blob)
            return AddedFile(existing, created=False)
        with self._db.session(write=True) as session:
            stored = StoredFile(
                filename=received.filename,
                media_type=media_type,
                size_bytes=received.size,
                sha256=digest,
                perceptual_hash=picture_hash,
                team_id=team_id,
            )
            session.add(stored)
            session.flush()
            member = _member(collection_id, stored, error, error_code, sha256=digest)
            member.tags = unique_tags
            session.add(member)
            try:
                session.flush()
            except IntegrityError:
                # A concurrent upload of the same bytes won the race.
                session.rollback()
                with self._db.session() as again:
                    winner = member_with_bytes(again, collection_id, digest)
                if winner is None:
                    raise
                return AddedFile(winner, created=False)
            session.add_all(FileTag(collection_file_id=member.id, tag=t) for t in unique_tags)
            if error is None:
                self._queue.enqueue(session, INGEST_JOB, member.id)
        if error is None:
            self.notify()
        return AddedFile(member, created=True)

    def _picture_hash(self, media_type: str, digest: str) -> str | None:
        """The perceptual hash of a picture, when near-duplicates are detected; None for
        other files and for pictures that do not decode (their ingestion says why)."""
        if self._duplicate_image_distance < 0 or modality_of(media_type) is not Modality.IMAGE:
            return None
        return upload_hash(self._blobs.local_path(digest), max_pixels=self._limits.max_image_pixels)

    def _same_picture(
        self, session: Session, collection_id: str, picture_hash: str
    ) -> CollectionFile | None:
        """A picture of the collection within the duplicate distance of `picture_hash`."""
        wanted = int(picture_hash, 16)
        for member_id, other in picture_hashes(session, collection_id):
            if (int(other, 16) ^ wanted).bit_count() <= self._duplicate_image_distance:
                return session.get(CollectionFile, member_id)
        return None

    def retry_file(self, collection_id: str, file_id: str) -> CollectionFile:
        with self._db.session(write=True) as session:
            member = find_member(session, collection_id, file_id)
            if member.status != FileStatus.FAILED:
                raise ConflictError(f"file {file_id} is {member.status}, not failed")
            if not self._blobs.exists(member.file.sha256):
                raise ConflictError(
                    f"file {file_id} was refused before it was stored: upload it again"
                )
            member.status, member.last_error, member.progress = FileStatus.QUEUED, None, 0.0
            member.error_code = None
            self._queue.enqueue(session, INGEST_JOB, member.id)
        self.notify()
        return member

    def attach_in(
        self,
        session: Session,
        collection_id: str,
        stored: StoredFile,
        *,
        attributes: dict[str, str | float | bool] | None = None,
    ) -> tuple[CollectionFile, bool]:
        """Put an existing file into a collection and queue its ingestion, inside the
        caller's transaction (call `notify` after it commits). A file already there is
        returned as it is (its attributes replaced when given); returns (member, created).

        The same bytes attached twice under two file ids are two files, as in OpenAI;
        only uploads straight into a collection are deduplicated by content.
        """
        existing = member_of_file(session, collection_id, stored.id)
        if existing is not None:
            if attributes is not None:
                existing.attributes = dict(attributes)
            return existing, False
        error: str | None = None
        try:
            detect_media_type(stored.filename, b"")
        except IngestError as exc:
            error = exc.message
        code = FileErrorCode.UNSUPPORTED_FILE if error else None
        member = _member(collection_id, stored, error, code, attributes=dict(attributes or {}))
        try:
            with session.begin_nested():
                session.add(member)
        except IntegrityError:
            # A concurrent attach of the same file won (PostgreSQL; SQLite writes serialize).
            return find_member(session, collection_id, stored.id), False
        if error is None:
            self._queue.enqueue(session, INGEST_JOB, member.id)
        return member, True

    def notify(self) -> None:
        """Wake the workers: jobs were queued."""
        if self._on_enqueue:
            self._on_enqueue()


def _member(
    collection_id: str,
    stored: StoredFile,
    error: str | None,
    error_code: FileErrorCode | None,
    *,
    sha256: str | None = None,
    attributes: dict[str, str | float | bool] | None = None,
) -> CollectionFile:
    """A file's new place in a collection: queued, or failed with `error` already."""
    return CollectionFile(
        collection_id=collection_id,
        file_id=stored.id,
        file=stored,
        sha256=sha256,
        status=FileStatus.FAILED if error else FileStatus.QUEUED,
        last_error=error,
        error_code=error_code,
        tags=[],
        attributes=attributes or {},
    )
