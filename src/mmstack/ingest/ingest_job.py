"""The ingestion job: the file queued by intake (`service.py`) made searchable.

Flow: parse (in the helper process, with its budgets) -> chunk -> embed in batches ->
chunks (and, through the database's own triggers, keyword rows) in one transaction ->
vectors upserted -> status `completed`. Every step is safe to repeat, so a job that dies
anywhere is simply run again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mmstack import metrics
from mmstack.arrays import FloatArray
from mmstack.config.settings import ChunkingSettings, IngestSettings
from mmstack.errors import IngestError
from mmstack.index.image_search import ImageSearch
from mmstack.index.vector import VectorIndex, VectorPayload, VectorPoint
from mmstack.ingest.chunker import ChunkDraft, chunk_document
from mmstack.ingest.document import ParsedDocument
from mmstack.ingest.parsers import ParseContext, ParseLimits, parse_file
from mmstack.ingest.parsers.context import Isolation
from mmstack.models.contracts import ImageDescriber, TextReader, Transcriber
from mmstack.models.embedder import Embedder
from mmstack.store.blobs import BlobStore
from mmstack.store.chunks import replace_chunks
from mmstack.store.collections import chunk_ids_of_member
from mmstack.store.db import Database
from mmstack.store.files import asset_keys, set_media_info, set_missing_picture_hash
from mmstack.store.ingest_status import mark_completed, set_progress, set_status
from mmstack.store.jobs import ClaimedJob, LeaseLostError, PermanentJobError, lease_held
from mmstack.store.models import CollectionFile, FileAsset, FileErrorCode, FileStatus

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


class IngestJob:
    """The `ingest_file` job handler (`run`), with the models that read files."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        embedder: Embedder,
        vectors: VectorIndex,
        *,
        ingest: IngestSettings,
        chunking: ChunkingSettings,
        limits: ParseLimits,
        text_reader: TextReader | None = None,
        transcriber: Transcriber | None = None,
        describer: ImageDescriber | None = None,
        pictures: ImageSearch | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._embedder = embedder
        self._vectors = vectors
        self._ingest = ingest
        self._chunking = chunking
        self._limits = limits
        self._text_reader = text_reader
        self._transcriber = transcriber
        self._describer = describer
        self._pictures = pictures

    def run(
        self, jobs: list[ClaimedJob], heartbeat: Callable[[], None]
    ) -> dict[int, Exception | None]:
        """The `ingest_file` job handler: parse and chunk each file, embed the chunks of
        the whole batch in one pass, then store each file. A file's failure is its own."""
        outcomes: dict[int, Exception | None] = {}
        prepared: list[_Prepared] = []
        with metrics.ingest_stage.labels("parse").time():
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
            with metrics.ingest_stage.labels("embed").time():
                vectors = self._embed(prepared, heartbeat)
        except Exception as exc:
            for item in prepared:
                outcomes[item.job.id] = self._failed(item.job, exc)
            return outcomes
        offset = 0
        with metrics.ingest_stage.labels("index").time():
            for item in prepared:
                count = len(item.drafts)
                try:
                    self._store(item, vectors[offset : offset + count])
                    metrics.ingest_chunks.inc(count)
                except LeaseLostError as exc:
                    outcomes[item.job.id] = exc  # the file is another worker's now
                except Exception as exc:
                    outcomes[item.job.id] = self._failed(item.job, exc)
                offset += count
        return outcomes

    def _failed(self, job: ClaimedJob, exc: Exception) -> Exception:
        """Record a job's failure on its file; returns what the queue should see."""
        assert job.collection_file_id is not None
        if isinstance(exc, IngestError):
            metrics.ingest_files.labels("failed").inc()
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
            metrics.ingest_files.labels("failed").inc()
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
            parts.append(
                self._embedder.embed(texts[start : start + EMBED_BATCH], between_batches=heartbeat)
            )
            if len(texts) > EMBED_BATCH:
                done = min(len(texts), start + EMBED_BATCH) / len(texts)
                self._set_progress(members, PARSE_SHARE + (0.95 - PARSE_SHARE) * done)
        return np.concatenate(parts)

    def _store(self, item: _Prepared, vectors: FloatArray) -> None:
        self._store_media(item.payload.file_id, item.document)
        chunk_ids = self._replace_chunks(item.job, item.payload, item.drafts)
        if self._pictures is not None:
            self._index_pictures(item, chunk_ids)
        self._vectors.upsert(
            [
                VectorPoint(id=cid, vector=vec, payload=item.payload)
                for cid, vec in zip(chunk_ids, vectors, strict=True)
            ]
        )
        with self._db.session(write=True) as session:
            completed = mark_completed(session, item.member_id, len(chunk_ids))
        metrics.ingest_files.labels("completed" if completed else "deleted").inc()
        if not completed:
            self._vectors.delete(chunk_ids)  # the file was deleted while we worked

    def _replace_chunks(
        self, job: ClaimedJob, payload: VectorPayload, drafts: list[ChunkDraft]
    ) -> list[int]:
        """Swap the file's chunks for new ones in one transaction (keyword rows follow),
        only while the job is still this worker's: a worker that stalled past its lease
        leaves the file to the one that took the job over."""
        member_id = job.collection_file_id
        assert member_id is not None
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
            if not lease_held(session, job):
                raise LeaseLostError(f"job {job.id} was taken over by another worker")
            old_ids = chunk_ids_of_member(session, member_id)
            new_ids = replace_chunks(session, member_id, rows)
        if old_ids:  # their rows are gone: a search no longer returns them
            self._vectors.delete(old_ids)
        return new_ids

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
            known = asset_keys(session, file_id)
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
            set_media_info(session, file_id, info or None, document.thumbnail)
            if picture_hash := document.metadata.get("perceptual_hash"):
                # A picture too large to hash in its upload request: later uploads of the
                # same picture are found by this one.
                set_missing_picture_hash(session, file_id, picture_hash)

    def _set_progress(self, member_ids: list[int], progress: float) -> None:
        with self._db.session(write=True) as session:
            set_progress(session, member_ids, round(progress, 3))

    def _set_status(
        self,
        member_id: int,
        status: FileStatus,
        error: str | None,
        error_code: FileErrorCode | None = None,
    ) -> None:
        with self._db.session(write=True) as session:
            set_status(session, member_id, status, error, error_code)


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"
