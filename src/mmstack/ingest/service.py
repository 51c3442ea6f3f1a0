"""Ingestion: accept files into a collection, and the job that makes them searchable.

Flow: bytes -> blob store (sha256; the same bytes twice in a collection are one file) ->
job queued -> parse -> chunk -> embed in batches -> chunks (and, through the database's own
triggers, keyword rows) in one transaction -> vectors upserted -> status `completed`. Every
step is safe to repeat, so a job that dies anywhere is simply run again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mmstack.arrays import FloatArray
from mmstack.config.settings import ChunkingSettings, IngestSettings
from mmstack.errors import ConflictError, IngestError, NotFoundError
from mmstack.index.image_search import ImageSearch
from mmstack.index.vector import VectorIndex, VectorPayload, VectorPoint
from mmstack.ingest.chunker import ChunkDraft, chunk_document
from mmstack.ingest.collections import find_member, unused_blobs
from mmstack.ingest.document import ParsedDocument
from mmstack.ingest.jobs import ClaimedJob, JobQueue, PermanentJobError
from mmstack.ingest.labels import check_tags
from mmstack.ingest.parsers import ParseContext, ParseLimits, parse_file
from mmstack.ingest.parsers.context import Isolation
from mmstack.ingest.uploads import safe_filename, size_limit_message
from mmstack.media.detect import detect_media_type
from mmstack.media.images import upload_hash
from mmstack.media_types import Modality, modality_of
from mmstack.models.contracts import ImageDescriber, TextReader, Transcriber
from mmstack.models.embedder import Embedder
from mmstack.store.blobs import BlobStore, sha256_hex
from mmstack.store.db import Database
from mmstack.store.models import (
    Chunk,
    Collection,
    CollectionFile,
    FileAsset,
    FileErrorCode,
    FileStatus,
    FileTag,
    StoredFile,
)

log = logging.getLogger(__name__)

INGEST_JOB = "ingest_file"
EMBED_BATCH = 256
# Shares of a file's progress: parsing (long for media: OCR, transcription), then embedding.
PARSE_SHARE = 0.6
PROGRESS_EVERY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Prepared:
    job: ClaimedJob
    member_id: int
    payload: VectorPayload
    document: ParsedDocument
    drafts: list[ChunkDraft]


@dataclass(frozen=True, slots=True)
class AddedFile:
    collection_file: CollectionFile
    created: bool  # False when the same bytes were already in the collection


class IngestionService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        embedder: Embedder,
        vectors: VectorIndex,
        queue: JobQueue,
        *,
        ingest: IngestSettings,
        chunking: ChunkingSettings,
        on_enqueue: Callable[[], None] | None = None,
        text_reader: TextReader | None = None,
        transcriber: Transcriber | None = None,
        describer: ImageDescriber | None = None,
        pictures: ImageSearch | None = None,
        limits: ParseLimits | None = None,
        duplicate_image_distance: int = -1,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._embedder = embedder
        self._vectors = vectors
        self._queue = queue
        self._ingest = ingest
        self._chunking = chunking
        self._on_enqueue = on_enqueue
        self._limits = limits or ParseLimits(max_bytes=ingest.max_file_bytes)
        self._text_reader = text_reader
        self._transcriber = transcriber
        self._describer = describer
        self._pictures = pictures
        self._duplicate_image_distance = duplicate_image_distance

    def add_file(
        self, collection_id: str, filename: str, data: bytes, *, tags: Sequence[str] = ()
    ) -> AddedFile:
        """Store the bytes and queue their ingestion; the same bytes twice are one file,
        and so is the same picture twice (perceptual hashes within
        `media.duplicate_image_distance` bits).

        Files over the size limit or of an unsupported type are recorded as failed with the
        reason (so a batch reports them), never parsed and never searchable.
        """
        name = safe_filename(filename)
        unique_tags = check_tags(tags)
        digest = sha256_hex(data)
        error: str | None = None
        error_code: FileErrorCode | None = None
        if len(data) > self._ingest.max_file_bytes:
            error = size_limit_message(len(data), self._ingest.max_file_bytes)
            error_code = FileErrorCode.INVALID_FILE
        try:
            media_type = detect_media_type(name, data[:4096])
        except IngestError as exc:
            media_type = "application/octet-stream"
            if error is None:
                error, error_code = exc.message, FileErrorCode.UNSUPPORTED_FILE
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
            existing = session.scalar(
                select(CollectionFile).where(
                    CollectionFile.collection_id == collection_id, CollectionFile.sha256 == digest
                )
            )
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
                filename=name,
                media_type=media_type,
                size_bytes=len(data),
                sha256=digest,
                perceptual_hash=picture_hash,
                team_id=team_id,
            )
            session.add(stored)
            session.flush()
            member = CollectionFile(
                collection_id=collection_id,
                file_id=stored.id,
                file=stored,
                sha256=digest,
                status=FileStatus.FAILED if error else FileStatus.QUEUED,
                last_error=error,
                error_code=error_code,
                tags=unique_tags,
            )
            session.add(member)
            try:
                session.flush()
            except IntegrityError:
                # A concurrent upload of the same bytes won the race.
                session.rollback()
                with self._db.session() as again:
                    winner = again.scalars(
                        select(CollectionFile).where(
                            CollectionFile.collection_id == collection_id,
                            CollectionFile.sha256 == digest,
                        )
                    ).one()
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
        candidates = session.execute(
            select(CollectionFile.id, StoredFile.perceptual_hash)
            .join(StoredFile, StoredFile.id == CollectionFile.file_id)
            .where(
                CollectionFile.collection_id == collection_id,
                StoredFile.perceptual_hash.is_not(None),
            )
        )
        for member_id, other in candidates:
            if other and (int(other, 16) ^ wanted).bit_count() <= self._duplicate_image_distance:
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
        existing = session.scalar(
            select(CollectionFile).where(
                CollectionFile.collection_id == collection_id,
                CollectionFile.file_id == stored.id,
            )
        )
        if existing is not None:
            if attributes is not None:
                existing.attributes = dict(attributes)
            return existing, False
        error: str | None = None
        try:
            detect_media_type(stored.filename, b"")
        except IngestError as exc:
            error = exc.message
        member = CollectionFile(
            collection_id=collection_id,
            file_id=stored.id,
            file=stored,
            sha256=None,
            status=FileStatus.FAILED if error else FileStatus.QUEUED,
            last_error=error,
            error_code=FileErrorCode.UNSUPPORTED_FILE if error else None,
            tags=[],
            attributes=dict(attributes or {}),
        )
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

    def run_jobs(
        self, jobs: list[ClaimedJob], heartbeat: Callable[[], None]
    ) -> dict[int, Exception | None]:
        """The `ingest_file` job handler: parse and chunk each file, embed the chunks of
        the whole batch in one pass, then store each file. A file's failure is its own."""
        outcomes: dict[int, Exception | None] = {}
        prepared: list[_Prepared] = []
        for job in jobs:
            outcomes[job.id] = None
            try:
                ready = self._prepare(job, heartbeat)
            except Exception as exc:
                outcomes[job.id] = self._failed(job, exc)
                continue
            if ready is not None:
                prepared.append(ready)
        if not prepared:
            return outcomes
        try:
            vectors = self._embed(prepared, heartbeat)
        except Exception as exc:
            for item in prepared:
                outcomes[item.job.id] = self._failed(item.job, exc)
            return outcomes
        offset = 0
        for item in prepared:
            count = len(item.drafts)
            try:
                self._store(item, vectors[offset : offset + count])
            except Exception as exc:
                outcomes[item.job.id] = self._failed(item.job, exc)
            offset += count
        return outcomes

    def _failed(self, job: ClaimedJob, exc: Exception) -> Exception:
        """Record a job's failure on its file; returns what the queue should see."""
        assert job.collection_file_id is not None
        if isinstance(exc, IngestError):
            self._set_status(
                job.collection_file_id, FileStatus.FAILED, exc.message, FileErrorCode.INVALID_FILE
            )
            return PermanentJobError(exc.message)
        final = job.attempts >= job.max_attempts
        reason = f"internal error ({type(exc).__name__}: {exc})"
        if final:
            reason += f" after {job.attempts} attempts"
        log.warning("ingestion error", exc_info=exc, extra={"job_id": job.id})
        if final:
            self._set_status(
                job.collection_file_id, FileStatus.FAILED, reason, FileErrorCode.SERVER_ERROR
            )
        else:
            self._set_status(job.collection_file_id, FileStatus.QUEUED, reason)
        return exc

    def _prepare(self, job: ClaimedJob, heartbeat: Callable[[], None]) -> _Prepared | None:
        member_id = job.collection_file_id
        assert member_id is not None
        with self._db.session(write=True) as session:
            member = session.get(CollectionFile, member_id)
            if member is None or member.status in (FileStatus.COMPLETED, FileStatus.FAILED):
                return None  # deleted or cancelled meanwhile, or a repeated job
            member.status, member.progress, member.last_error = FileStatus.IN_PROGRESS, 0.0, None
            stored = member.file
            payload = VectorPayload(
                collection_id=member.collection_id,
                file_id=member.file_id,
                media_type=stored.media_type,
                created_at=stored.created_at,
                tags=tuple(member.tags),
            )
        context = ParseContext(
            limits=self._limits,
            ocr=self._text_reader,
            transcriber=self._transcriber,
            describer=self._describer,
            progress=self._parse_progress(member_id, heartbeat),
            heartbeat=heartbeat,
            isolation=Isolation.configured(self._ingest),
        )
        path = self._blobs.local_path(stored.sha256)
        document = parse_file(path, filename=stored.filename, context=context)
        _, drafts = chunk_document(
            document,
            self._embedder,
            max_tokens=self._chunking.max_tokens,
            overlap_tokens=self._chunking.overlap_tokens,
        )
        if not drafts:
            raise IngestError("no text to index after parsing")
        return _Prepared(job, member_id, payload, document, drafts)

    def _parse_progress(
        self, member_id: int, heartbeat: Callable[[], None]
    ) -> Callable[[float], None]:
        """A parser's progress callback: records the file's progress and renews the job's
        lease, at most once a second (a long recording takes minutes to transcribe)."""
        last = time.monotonic()

        def report(done: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_EVERY_SECONDS:
                return
            last = now
            heartbeat()
            self._set_progress([member_id], PARSE_SHARE * min(max(done, 0.0), 1.0))

        return report

    def _embed(self, prepared: list[_Prepared], heartbeat: Callable[[], None]) -> FloatArray:
        texts = [d.text for item in prepared for d in item.drafts]
        members = [item.member_id for item in prepared]
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            parts.append(self._embedder.embed(texts[start : start + EMBED_BATCH]))
            heartbeat()
            if len(texts) > EMBED_BATCH:
                done = min(len(texts), start + EMBED_BATCH) / len(texts)
                self._set_progress(members, PARSE_SHARE + (0.95 - PARSE_SHARE) * done)
        return np.concatenate(parts)

    def _store(self, item: _Prepared, vectors: FloatArray) -> None:
        self._store_media(item.payload.file_id, item.document)
        chunk_ids = self._replace_chunks(item.member_id, item.payload, item.drafts)
        if self._pictures is not None:
            self._index_pictures(item, chunk_ids)
        self._vectors.upsert(
            [
                VectorPoint(id=cid, vector=vec, payload=item.payload)
                for cid, vec in zip(chunk_ids, vectors, strict=True)
            ]
        )
        with self._db.session(write=True) as session:
            done = session.execute(
                update(CollectionFile)
                .where(CollectionFile.id == item.member_id)
                .values(status=FileStatus.COMPLETED, progress=1.0, chunk_count=len(chunk_ids))
            )
        if not getattr(done, "rowcount", 1):
            self._vectors.delete(chunk_ids)  # the file was deleted while we worked

    def _replace_chunks(
        self, member_id: int, payload: VectorPayload, drafts: list[ChunkDraft]
    ) -> list[int]:
        """Swap the file's chunks for new ones in one transaction (keyword rows follow)."""
        with self._db.session() as session:
            old_ids = list(
                session.scalars(select(Chunk.id).where(Chunk.collection_file_id == member_id))
            )
        if old_ids:
            self._vectors.delete(old_ids)
        rows = [
            {
                "collection_file_id": member_id,
                "collection_id": payload.collection_id,
                "file_id": payload.file_id,
                "seq": d.seq,
                "text": d.text,
                "token_count": d.token_count,
                "page_start": d.page_start,
                "page_end": d.page_end,
                "heading_path": list(d.heading_path),
                "char_start": d.char_start,
                "char_end": d.char_end,
                "source": d.source,
                "region": list(d.region) if d.region else None,
                "time_start": d.time_start,
                "time_end": d.time_end,
                "thumbnail": d.thumbnail,
                "timeline": [list(t) for t in d.timeline] or None,
            }
            for d in drafts
        ]
        with self._db.session(write=True) as session:
            session.execute(delete(Chunk).where(Chunk.collection_file_id == member_id))
            ids = session.scalars(
                insert(Chunk).returning(Chunk.id, sort_by_parameter_order=True), rows
            ).all()
        return list(ids)

    def _index_pictures(self, item: _Prepared, chunk_ids: list[int]) -> None:
        """Each picture the file's chunks are shown on, embedded once, keyed by the first
        chunk on it."""
        assert self._pictures is not None
        first_chunk: dict[str, int] = {}
        for draft, chunk_id in zip(item.drafts, chunk_ids, strict=True):
            if draft.thumbnail in item.document.assets:
                first_chunk.setdefault(draft.thumbnail, chunk_id)
        pictures = [(cid, item.document.assets[key]) for key, cid in first_chunk.items()]
        self._pictures.add(pictures, item.payload)

    def _store_media(self, file_id: str, document: ParsedDocument) -> None:
        """Keep the derived images (thumbnails, frames, page renders) and what parsing
        learned about the file. Idempotent: the same file gives the same images."""
        if not document.assets and not document.metadata:
            return
        for data in document.assets.values():
            self._blobs.put(data)
        with self._db.session(write=True) as session:
            known = set(session.scalars(select(FileAsset.key).where(FileAsset.file_id == file_id)))
            session.add_all(
                FileAsset(file_id=file_id, key=key, media_type=_image_type(data))
                for key, data in document.assets.items()
                if key not in known
            )
            info = dict(document.metadata)
            if document.duration is not None:
                info["duration"] = document.duration
            if document.page_count is not None:
                info["page_count"] = document.page_count
            session.execute(
                update(StoredFile)
                .where(StoredFile.id == file_id)
                .values(media_info=info or None, thumbnail=document.thumbnail)
            )
            if picture_hash := document.metadata.get("perceptual_hash"):
                # A picture too large to hash in its upload request: later uploads of the
                # same picture are found by this one.
                session.execute(
                    update(StoredFile)
                    .where(StoredFile.id == file_id, StoredFile.perceptual_hash.is_(None))
                    .values(perceptual_hash=picture_hash)
                )

    def _set_progress(self, member_ids: list[int], progress: float) -> None:
        with self._db.session(write=True) as session:
            session.execute(
                update(CollectionFile)
                .where(CollectionFile.id.in_(member_ids))
                .values(progress=round(progress, 3))
            )

    def _set_status(
        self,
        member_id: int,
        status: FileStatus,
        error: str | None,
        error_code: FileErrorCode | None = None,
    ) -> None:
        with self._db.session(write=True) as session:
            session.execute(
                update(CollectionFile)
                .where(CollectionFile.id == member_id)
                .values(status=status, last_error=error, error_code=error_code)
            )


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"
