"""Keeps what is derived or stored beside the database equal to it: vectors missing for
searchable chunks are re-embedded, vectors without a chunk are removed, and so are stored
blobs no file or derived image refers to (left by a crash between storing an upload's
bytes and recording it)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from mmstack.index.vector import VectorIndex, VectorPayload, VectorPoint
from mmstack.models.embedder import Embedder
from mmstack.store.blob_refs import referenced_blobs
from mmstack.store.blobs import BlobStore
from mmstack.store.chunks import all_chunk_ids, chunks_to_embed, searchable_chunk_ids
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
        orphans = sorted(vector_ids - chunk_ids)
        if orphans:
            self._vectors.delete(orphans)
        for index in self._derived:
            if stale := sorted(set(index.iter_ids()) - chunk_ids):
                index.delete(stale)
        missing = sorted(searchable - vector_ids)
        for start in range(0, len(missing), BATCH):
            self._re_embed(missing[start : start + BATCH])
        removed_blobs = self._remove_unreferenced_blobs()
        return ReconcileReport(
            len(vector_ids), len(chunk_ids), len(orphans), len(missing), removed_blobs
        )

    def _remove_unreferenced_blobs(self) -> int:
        candidates = set(self._blobs.written_before(time.time() - BLOB_GRACE_SECONDS))
        if not candidates:
            return 0
        with self._db.session() as session:
            referenced = referenced_blobs(session)
        unreferenced = sorted(candidates - referenced)
        for digest in unreferenced:
            self._blobs.delete(digest)
        return len(unreferenced)

    def _re_embed(self, ids: list[int]) -> None:
        with self._db.session() as session:
            rows = chunks_to_embed(session, ids)
        vectors = self._embedder.embed([chunk.text for chunk, *_ in rows])
        self._vectors.upsert(
            [
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
        )
