"""Moving one collection between installations, through one archive file
(`archive_format.py`): `export_collection` writes the collection, its files, chunks,
vectors and blobs (`archive_export.py`); `import_collection` reads them into a new
collection here, whatever database either side runs (SQLite, PostgreSQL).

Files travel in the state they are in: completed files with their chunks and vectors,
failed files with their error (they can be retried where their bytes came along), and
files waiting or being ingested as queued, without chunks: the importing installation
ingests them again. Vectors are not re-embedded: the importing installation must embed with
the same model (an archive of another model or dimension is refused).

An import makes a new collection of the importing owner's team (the default team from the
CLI), with new chunk ids and, where a file's id is taken here, a new file id; files come
as the collection's own (not standalone), so they go with it. Its rows are written in one
transaction after the blobs are stored; when the vectors cannot be written after it, the
collection is deleted again. A process killed in between leaves chunks without vectors,
which the reconciler embeds at the next start.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from pathlib import Path

import numpy as np
from pydantic import ValidationError
from sqlalchemy.orm import Session

from mmstack.index.image_search import ImageSearch
from mmstack.index.vector import VectorFilter, VectorIndex, VectorPayload, VectorPoint
from mmstack.ingest.ingest_job import INGEST_JOB
from mmstack.knowledge import archive_export
from mmstack.knowledge import archive_format as fmt
from mmstack.knowledge.archive_format import ArchiveError, ArchiveReport, ChunkRecord, FileRecord
from mmstack.knowledge.collections import CollectionService
from mmstack.models.embedder import Embedder
from mmstack.store.archive_rows import file_id_taken
from mmstack.store.blob_refs import unused_blobs
from mmstack.store.blobs import BlobStore
from mmstack.store.chunks import replace_chunks
from mmstack.store.db import Database
from mmstack.store.jobs import JobQueue
from mmstack.store.models import CollectionFile, FileAsset, FileStatus, FileTag, StoredFile, new_id

UPSERT_BATCH = 256


@dataclass(slots=True)
class _Imported:
    """The rows an import wrote, and what its vectors need: each chunk's id in the archive,
    its new id, and the payload of its file."""

    collection_id: str
    name: str
    files: int = 0
    requeued: int = 0
    renamed: int = 0
    # Machine integers, not Python ones: a collection may hold millions of chunks.
    old_ids: array[int] = field(default_factory=lambda: array("q"))
    new_ids: array[int] = field(default_factory=lambda: array("q"))
    payload_of: array[int] = field(default_factory=lambda: array("q"))
    payloads: list[VectorPayload] = field(default_factory=list)
    pictures: list[tuple[VectorPayload, list[tuple[int, str]]]] = field(default_factory=list)


class CollectionArchives:
    """Exports and imports collections of this installation (see the module's doc)."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        vectors: VectorIndex,
        embedder: Embedder,
        collections: CollectionService,
        queue: JobQueue,
        *,
        pictures: ImageSearch | None = None,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._vectors = vectors
        self._embedder = embedder
        self._collections = collections
        self._queue = queue
        self._pictures = pictures
        self._on_enqueue = on_enqueue

    def export_collection(
        self, collection: str, out: Path, *, overwrite: bool = False
    ) -> ArchiveReport:
        """Write the collection (by id or name) to the archive `out` (.tar, .tar.gz or
        .tgz), in full or not at all (see `archive_export.py`)."""
        return archive_export.export_collection(
            self._collections.row(collection),
            out,
            db=self._db,
            blobs=self._blobs,
            vectors=self._vectors,
            embedder=self._embedder,
            overwrite=overwrite,
        )

    def import_collection(
        self, archive: Path, *, name: str | None = None, work_dir: Path | None = None
    ) -> ArchiveReport:
        """A new collection made of the archive's (named `name`, else as in the archive),
        in full or not at all. Its members are staged under `work_dir` (the system's
        temporary directory when None) and checked before anything is written here."""
        with tempfile.TemporaryDirectory(dir=work_dir, prefix=".import-") as tmp:
            manifest, staged = fmt.read_archive(
                archive,
                Path(tmp),
                model=self._embedder.model_id,
                dimension=self._vectors.dimension,
            )
            try:
                source = fmt.CollectionRecord.model_validate_json(
                    (staged / fmt.COLLECTION).read_bytes()
                )
            except ValidationError as exc:
                raise ArchiveError(f"{fmt.COLLECTION} is invalid: {exc}") from exc
            files = list(fmt.records(staged / fmt.FILES, FileRecord))
            chunk_ids = fmt.check_chunks(staged, files)
            fmt.check_vectors(staged, chunk_ids, self._vectors.dimension)
            added = self._store_blobs(staged)
            try:
                with self._db.session(write=True) as session:
                    imported = self._write_rows(session, name or source.name, source, files, staged)
            except BaseException:
                self._drop_unused(added)
                raise
            try:
                self._upsert_vectors(staged, imported)
                self._index_pictures(imported)
            except BaseException:
                self._collections.delete(imported.collection_id)
                if self._pictures is not None:
                    flt = VectorFilter(collection_ids=[imported.collection_id])
                    self._pictures.index.delete_where(flt)
                raise
        if imported.requeued and self._on_enqueue is not None:
            self._on_enqueue()
        count = len(imported.new_ids)
        blobs = sum(1 for name in manifest.members if name.startswith(fmt.BLOBS))
        return ArchiveReport(
            imported.collection_id,
            imported.name,
            imported.files,
            count,
            count,
            blobs,
            imported.requeued,
            imported.renamed,
        )

    def _store_blobs(self, staged: Path) -> list[str]:
        """Store the staged blobs; returns the digests that were not stored here before."""
        added: list[str] = []
        for path in sorted((staged / fmt.BLOBS).iterdir()):
            if not self._blobs.exists(path.name):
                added.append(path.name)
                self._blobs.put_file(path)
        return added

    def _drop_unused(self, digests: list[str]) -> None:
        with self._db.session() as session:
            unused = unused_blobs(session, digests)
        for digest in unused:
            self._blobs.delete(digest)

    def _write_rows(
        self,
        session: Session,
        name: str,
        source: fmt.CollectionRecord,
        files: list[FileRecord],
        staged: Path,
    ) -> _Imported:
        collection = self._collections.create_in(
            session, name, description=source.description, metadata=source.metadata
        )
        imported = _Imported(collection.id, collection.name)
        completed: dict[str, tuple[CollectionFile, int]] = {}
        for record in files:
            member, payload = self._add_file(session, collection.id, collection.team_id, record)
            imported.files += 1
            imported.renamed += member.file_id != record.id
            if member.status == FileStatus.QUEUED:
                self._queue.enqueue(session, INGEST_JOB, member.id)
                imported.requeued += 1
            if member.status == FileStatus.COMPLETED:
                completed[record.id] = (member, len(imported.payloads))
                imported.payloads.append(payload)
        assets = {r.id: {a.key for a in r.assets} for r in files}
        chunks = fmt.records(staged / fmt.CHUNKS, ChunkRecord)
        for file_id, group in groupby(chunks, key=attrgetter("file_id")):
            member, payload_index = completed[file_id]
            drafts = list(group)
            rows = [
                {
                    **draft.model_dump(exclude={"id", "file_id"}),
                    "collection_file_id": member.id,
                    "collection_id": collection.id,
                    "file_id": member.file_id,
                }
                for draft in drafts
            ]
            new_ids = replace_chunks(session, member.id, rows)
            member.chunk_count = len(new_ids)
            imported.old_ids.extend(draft.id for draft in drafts)
            imported.new_ids.extend(new_ids)
            imported.payload_of.extend([payload_index] * len(new_ids))
            # As ingestion indexes them: each picture by the first chunk shown on it.
            first: dict[str, int] = {}
            for draft, chunk_id in zip(drafts, new_ids, strict=True):
                if draft.thumbnail in assets[file_id]:
                    first.setdefault(draft.thumbnail, chunk_id)
            if first:
                pictures = [(chunk_id, key) for key, chunk_id in first.items()]
                imported.pictures.append((imported.payloads[payload_index], pictures))
        return imported

    def _add_file(
        self, session: Session, collection_id: str, team_id: str, record: FileRecord
    ) -> tuple[CollectionFile, VectorPayload]:
        file_id = new_id("file-") if file_id_taken(session, record.id) else record.id
        session.add(
            StoredFile(
                id=file_id,
                team_id=team_id,
                filename=record.filename,
                media_type=record.media_type,
                size_bytes=record.size_bytes,
                sha256=record.sha256,
                purpose=record.purpose,
                standalone=False,
                created_at=record.created_at,
                media_info=record.media_info,
                thumbnail=record.thumbnail,
                perceptual_hash=record.perceptual_hash,
            )
        )
        session.flush()  # the file before its assets: no relationship orders them
        session.add_all(
            FileAsset(file_id=file_id, key=a.key, media_type=a.media_type) for a in record.assets
        )
        status = record.status if record.status in _KEPT_STATUSES else FileStatus.QUEUED
        tags = sorted(set(record.tags))
        member = CollectionFile(
            collection_id=collection_id,
            file_id=file_id,
            sha256=record.member_sha256,
            status=status,
            last_error=record.last_error if status == FileStatus.FAILED else None,
            error_code=record.error_code if status == FileStatus.FAILED else None,
            progress=record.progress if status != FileStatus.QUEUED else 0.0,
            chunk_count=0,
            tags=tags,
            attributes=record.attributes,
            created_at=record.added_at,
            updated_at=record.updated_at,
        )
        session.add(member)
        session.flush()
        session.add_all(FileTag(collection_file_id=member.id, tag=t) for t in tags)
        payload = VectorPayload(
            collection_id=collection_id,
            file_id=file_id,
            media_type=record.media_type,
            created_at=record.created_at,
            tags=tuple(tags),
        )
        return member, payload

    def _upsert_vectors(self, staged: Path, imported: _Imported) -> None:
        """The archive's vectors under the new chunk ids, with their files' payloads."""
        ids = np.load(staged / fmt.VECTOR_IDS)
        matrix = np.load(staged / fmt.VECTORS, mmap_mode="r")
        old = np.array(imported.old_ids, dtype=np.int64)
        order = np.argsort(old)
        chunk = order[np.searchsorted(old[order], ids)]
        new_ids = np.array(imported.new_ids, dtype=np.int64)[chunk]
        payload_of = np.array(imported.payload_of, dtype=np.int64)[chunk]
        for start in range(0, len(ids), UPSERT_BATCH):
            self._vectors.upsert(
                [
                    VectorPoint(
                        id=int(new_ids[row]),
                        vector=np.asarray(matrix[row], dtype=np.float32),
                        payload=imported.payloads[payload_of[row]],
                    )
                    for row in range(start, min(start + UPSERT_BATCH, len(ids)))
                ]
            )

    def _index_pictures(self, imported: _Imported) -> None:
        """The pictures of the imported files in the picture index, when there is one (its
        vectors are not in the archive: another installation may run another CLIP model)."""
        if self._pictures is None:
            return
        for payload, pictures in imported.pictures:
            self._pictures.add(
                [(chunk_id, self._blobs.get(key)) for chunk_id, key in pictures], payload
            )


_KEPT_STATUSES = (FileStatus.COMPLETED, FileStatus.FAILED)
