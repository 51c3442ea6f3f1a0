"""Ingestion: accept files into a collection, and the job that makes them searchable.

Flow: bytes -> blob store (sha256; the same bytes twice in a collection are one file) ->
job queued -> parse -> chunk -> embed in batches -> chunks (and, through the database's own
triggers, keyword rows) in one transaction -> vectors upserted -> status `completed`. Every
step is safe to repeat, so a job that dies anywhere is simply run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mmstack.config.settings import ChunkingSettings, IngestSettings
from mmstack.errors import IngestError, InvalidRequestError, NotFoundError
from mmstack.index.vector import FloatArray, VectorIndex, VectorPayload, VectorPoint
from mmstack.ingest.chunker import ChunkDraft, chunk_document
from mmstack.ingest.collections import find_member
from mmstack.ingest.jobs import ClaimedJob, JobQueue, PermanentJobError
from mmstack.ingest.parsers import ParseLimits, parse_document
from mmstack.ingest.parsers.detect import detect_media_type
from mmstack.ingest.uploads import safe_filename, size_limit_message
from mmstack.models.embedder import Embedder
from mmstack.store.blobs import BlobStore, sha256_hex
from mmstack.store.db import Database
from mmstack.store.models import (
    Chunk,
    Collection,
    CollectionFile,
    FileErrorCode,
    FileStatus,
    FileTag,
    StoredFile,
)

log = logging.getLogger(__name__)

INGEST_JOB = "ingest_file"
EMBED_BATCH = 256


@dataclass(frozen=True, slots=True)
class _Prepared:
    job: ClaimedJob
    member_id: int
    payload: VectorPayload
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
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._embedder = embedder
        self._vectors = vectors
        self._queue = queue
        self._ingest = ingest
        self._chunking = chunking
        self._on_enqueue = on_enqueue
        self._limits = ParseLimits(max_bytes=ingest.max_file_bytes)

    def add_file(
        self, collection_id: str, filename: str, data: bytes, *, tags: Sequence[str] = ()
    ) -> AddedFile:
        """Store the bytes and queue their ingestion; the same bytes twice are one file.

        Files over the size limit or of an unsupported type are recorded as failed with the
        reason (so a batch reports them), never parsed and never searchable.
        """
        name = safe_filename(filename)
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
        with self._db.session(write=True) as session:
            if session.get(Collection, collection_id) is None:
                raise NotFoundError(f"collection '{collection_id}' not found", param="collection")
            existing = session.scalar(
                select(CollectionFile).where(
                    CollectionFile.collection_id == collection_id, CollectionFile.sha256 == digest
                )
            )
            if existing is not None:
                return AddedFile(existing, created=False)
            stored = StoredFile(
                filename=name, media_type=media_type, size_bytes=len(data), sha256=digest
            )
            session.add(stored)
            session.flush()
            unique_tags = sorted(set(tags))
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

    def retry_file(self, collection_id: str, file_id: str) -> CollectionFile:
        with self._db.session(write=True) as session:
            member = find_member(session, collection_id, file_id)
            if member.status != FileStatus.FAILED:
                raise InvalidRequestError(f"file {file_id} is {member.status}, not failed")
            if not self._blobs.exists(member.file.sha256):
                raise InvalidRequestError(f"file {file_id} was rejected before storage")
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
                ready = self._prepare(job)
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

    def _prepare(self, job: ClaimedJob) -> _Prepared | None:
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
        data = self._blobs.get(stored.sha256)
        document = parse_document(data, filename=stored.filename, limits=self._limits)
        _, drafts = chunk_document(
            document,
            self._embedder,
            max_tokens=self._chunking.max_tokens,
            overlap_tokens=self._chunking.overlap_tokens,
        )
        if not drafts:
            raise IngestError("no text to index after parsing")
        return _Prepared(job, member_id, payload, drafts)

    def _embed(self, prepared: list[_Prepared], heartbeat: Callable[[], None]) -> FloatArray:
        texts = [d.text for item in prepared for d in item.drafts]
        members = [item.member_id for item in prepared]
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            parts.append(self._embedder.embed(texts[start : start + EMBED_BATCH]))
            heartbeat()
            if len(texts) > EMBED_BATCH:
                done = min(len(texts), start + EMBED_BATCH) / len(texts)
                self._set_progress(members, 0.05 + 0.9 * done)
        return np.concatenate(parts)

    def _store(self, item: _Prepared, vectors: FloatArray) -> None:
        chunk_ids = self._replace_chunks(item.member_id, item.payload, item.drafts)
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
            }
            for d in drafts
        ]
        with self._db.session(write=True) as session:
            session.execute(delete(Chunk).where(Chunk.collection_file_id == member_id))
            ids = session.scalars(
                insert(Chunk).returning(Chunk.id, sort_by_parameter_order=True), rows
            ).all()
        return list(ids)

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
