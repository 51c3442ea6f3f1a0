"""Keeps what is derived or stored beside the database equal to it: vectors missing for
searchable chunks are re-embedded, vectors without a chunk are removed, and so are stored
blobs no file or derived image refers to (left by a crash between storing an upload's
bytes and recording it)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from mmstack.arrays import FloatArray
from mmstack.index.vector import VectorIndex, VectorPayload, VectorPoint
from mmstack.models.embedder import Embedder
from mmstack.store.blob_refs import referenced_blobs, unused_blobs
from mmstack.store.blobs import BlobStore
from mmstack.store.chunks import ChunkRow, all_chunk_ids, chunks_to_embed, searchable_chunk_ids
from mmstack.store.db import Database

BATCH = 256
# A blob younger than this may belong to an upload still being recorded (by any process).
BLOB_GRACE_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    vectors: int
    chunks: int
    removed_orphans: int
    re_embedded: int
    removed_blobs: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.removed_orphans or self.re_embedded or self.removed_blobs)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Orphans:
    """What nothing in the database refers to: vectors without a chunk (in the index, and
    in each derived index, by position), and stored blobs no file or image uses."""

    vectors: tuple[int, ...] = ()
    derived: tuple[tuple[int, ...], ...] = ()
    blobs: tuple[str, ...] = ()


class Reconciler:
    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        vectors: VectorIndex,
        blobs: BlobStore,
        *,
        derived: Sequence[VectorIndex] = (),
    ) -> None:
        self._db = db
        self._embedder = embedder
        self._vectors = vectors
        self._blobs = blobs
        # Other indexes keyed by chunk id (picture vectors): only their orphans are removed;
        # a missing one comes back when its file is ingested again.
        self._derived = list(derived)

    def run(self) -> ReconcileReport:
        vector_ids = set(self._vectors.iter_ids())
        with self._db.session() as session:
            chunk_ids = all_chunk_ids(session)
            searchable = searchable_chunk_ids(session)
        removed = self.remove(self._orphans(vector_ids, chunk_ids))
        missing = sorted(searchable - vector_ids)
        for start in range(0, len(missing), BATCH):
            self._re_embed(missing[start : start + BATCH])
        return ReconcileReport(
            len(vector_ids), len(chunk_ids), len(removed.vectors), len(missing), len(removed.blobs)
        )

    def orphans(self) -> Orphans:
        """What `remove` would remove now (changing nothing)."""
        vector_ids = set(self._vectors.iter_ids())
        with self._db.session() as session:
            chunk_ids = all_chunk_ids(session)
        return self._orphans(vector_ids, chunk_ids)

    def remove(self, orphans: Orphans) -> Orphans:
        """Remove those of `orphans` that are orphans still (a chunk or a file may have
        come since they were found); returns what was removed."""
        with self._db.session() as session:
            chunk_ids = all_chunk_ids(session)
            blobs = unused_blobs(session, list(orphans.blobs))
        vectors = sorted(set(orphans.vectors) - chunk_ids)
        if vectors:
            self._vectors.delete(vectors)
        derived = []
        for index, ids in zip(self._derived, orphans.derived, strict=False):
            if stale := sorted(set(ids) - chunk_ids):
                index.delete(stale)
            derived.append(tuple(stale))
        for digest in blobs:
            self._blobs.delete(digest)
        return Orphans(tuple(vectors), tuple(derived), tuple(blobs))

    def _orphans(self, vector_ids: set[int], chunk_ids: set[int]) -> Orphans:
        derived = tuple(tuple(sorted(set(index.iter_ids()) - chunk_ids)) for index in self._derived)
        return Orphans(tuple(sorted(vector_ids - chunk_ids)), derived, self._unreferenced_blobs())

    def _unreferenced_blobs(self) -> tuple[str, ...]:
        candidates = set(self._blobs.written_before(time.time() - BLOB_GRACE_SECONDS))
        if not candidates:
            return ()
        with self._db.session() as session:
            referenced = referenced_blobs(session)
        return tuple(sorted(candidates - referenced))

    def _re_embed(self, ids: list[int]) -> None:
        with self._db.session() as session:
            rows = chunks_to_embed(session, ids)
        vectors = self._embedder.embed([chunk.text for chunk, *_ in rows])
        self._vectors.upsert(chunk_points(rows, vectors))


def chunk_points(rows: Sequence[ChunkRow], vectors: Iterable[FloatArray]) -> list[VectorPoint]:
    """The index points of chunks read with `chunks_to_embed`, one vector each, in order:
    the payload a search filters on comes from the chunk's file and membership."""
    return [
        VectorPoint(
            id=chunk.id,
            vector=vector,
            payload=VectorPayload(
                collection_id=chunk.collection_id,
                file_id=chunk.file_id,
                media_type=media_type,
                created_at=created_at,
                tags=tuple(tags),
            ),
        )
        for (chunk, tags, media_type, created_at), vector in zip(rows, vectors, strict=True)
    ]
