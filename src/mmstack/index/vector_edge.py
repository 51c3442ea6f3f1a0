"""The embedded vector index: one Qdrant Edge shard in a directory, run in this process.

Durability: every update is appended to the shard's write-ahead log (a memory-mapped file)
before `update` returns, and loading a shard replays the log. So an upsert or delete that
returned survives a killed process (checked by the SIGKILL test); surviving a power loss
needs `flush()` (an fsync of the log and every segment, ~0.1-1 s), which this adapter runs
at most once a minute after writes, after `optimize()` and on `close()`. A lost tail after a
power loss is repaired by reconciliation from the database, the source of truth.

Threads: no lock. The binding (pyo3 0.29) can only wrap a `Sync` shard, its methods take
`&self`, and the engine guards its own state (a mutex on the log, a read-write lock on the
segments); search, scroll and update release the GIL for part of their run, so calls from
several threads do overlap (a test hammers searches during writes). After `close()` every
call raises. `flush()` and `optimize()` keep the GIL throughout, so `optimize()` stalls
every Python thread for its whole run (minutes at 100k points).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    IntegerIndexParams,
    KeywordIndexParams,
    MatchAny,
    Point,
    Query,
    RangeFloat,
    Record,
    ScrollRequest,
    SearchParams,
    SearchRequest,
    UpdateOperation,
)

from mmstack.arrays import FloatArray
from mmstack.index.vector import (
    VectorFilter,
    VectorHit,
    VectorIndexStats,
    VectorPoint,
    point_id,
)

if TYPE_CHECKING:
    from qdrant_edge import ConditionType, PointId

_CONFIG_FILE = "edge_config.json"  # written by the engine into the shard directory
_SCROLL_PAGE = 1024
_FLUSH_INTERVAL_S = 60.0

# Payload-aware HNSW links only for collection_id, the filter nearly every search carries:
# building them for every field made optimize() ~4x slower at 100k points.
_PAYLOAD_INDEXES: dict[str, KeywordIndexParams | IntegerIndexParams] = {
    "collection_id": KeywordIndexParams(is_tenant=True),
    "file_id": KeywordIndexParams(enable_hnsw=False),
    "media_type": KeywordIndexParams(enable_hnsw=False),
    "tags": KeywordIndexParams(enable_hnsw=False),
    "created_at": IntegerIndexParams(lookup=False, range=True, enable_hnsw=False),
}


class EdgeVectorIndex:
    """A `VectorIndex` stored in `path`, created on first use; cosine similarity."""

    def __init__(
        self,
        path: Path,
        dimension: int,
        *,
        search_threads: int | None = None,
        hnsw_ef: int = 128,
    ) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension}")
        self._dimension = dimension
        self._hnsw_ef = hnsw_ef
        config = EdgeConfig(
            vectors=EdgeVectorParams(size=dimension, distance=Distance.Cosine),
            max_search_threads=search_threads,
        )
        if (path / _CONFIG_FILE).is_file():
            stored = _stored_dimension(path)
            if stored is not None and stored != dimension:
                raise ValueError(
                    f"vector index {path} holds {stored}-dimensional vectors, not {dimension}; "
                    "the embedding model changed: delete the directory to rebuild the index"
                )
            # With `config` the engine also refuses a shard whose vectors don't match.
            self._shard = EdgeShard.load(str(path), config)
        else:
            self._shard = EdgeShard.create(str(path), config)
        self._closed = False
        self._last_flush = time.monotonic()
        self._ensure_payload_indexes()

    @property
    def dimension(self) -> int:
        return self._dimension

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        for p in points:
            self._check_vector(p.vector)
        engine_points = [Point(p.id, p.vector.tolist(), p.payload.as_dict()) for p in points]
        self._shard.update(UpdateOperation.upsert_points(engine_points))
        self._flush_if_due()

    def delete(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        self._shard.update(UpdateOperation.delete_points(list(ids)))
        self._flush_if_due()

    def delete_where(self, flt: VectorFilter) -> None:
        """Refuses a filter with no field set rather than wiping the index."""
        if flt.matches_nothing():
            return
        condition = _filter(flt)
        if condition is None:
            raise ValueError("delete_where needs a filter with at least one field set")
        self._shard.update(UpdateOperation.delete_points_by_filter(condition))
        self._flush_if_due()

    def search(
        self, vector: FloatArray, *, limit: int, flt: VectorFilter | None = None
    ) -> list[VectorHit]:
        self._check_vector(vector)
        if limit < 1 or (flt is not None and flt.matches_nothing()):
            return []
        request = SearchRequest(
            query=Query.Nearest(vector.tolist()),
            limit=limit,
            filter=_filter(flt) if flt is not None else None,
            params=SearchParams(hnsw_ef=self._hnsw_ef, exact=_needs_exact(flt)),
            with_payload=False,
            with_vector=False,
        )
        return [
            VectorHit(id=point_id(hit.id), score=hit.score) for hit in self._shard.search(request)
        ]

    def iter_ids(self) -> Iterator[int]:
        for record in self._scroll(with_vector=False):
            yield point_id(record.id)

    def iter_vectors(self) -> Iterator[tuple[int, FloatArray]]:
        for record in self._scroll(with_vector=True):
            yield point_id(record.id), _dense(record.vector)

    def _scroll(self, *, with_vector: bool) -> Iterator[Record]:
        offset: PointId | None = None
        while True:
            request = ScrollRequest(
                offset=offset, limit=_SCROLL_PAGE, with_payload=False, with_vector=with_vector
            )
            records, offset = self._shard.scroll(request)
            yield from records
            if offset is None:
                return

    def stats(self) -> VectorIndexStats:
        info = self._shard.info()
        return VectorIndexStats(
            points=self._shard.count(CountRequest(exact=True)),
            indexed=info.indexed_vectors_count,
            extra={"segments": info.segments_count},
        )

    def optimize(self) -> None:
        self._shard.optimize()
        self.flush()

    def flush(self) -> None:
        """Make every returned write survive a power loss, not only a killed process."""
        self._shard.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._shard.close()  # flushes

    def _ensure_payload_indexes(self) -> None:
        existing = self._shard.info().payload_schema
        for field, params in _PAYLOAD_INDEXES.items():
            if field not in existing:
                self._shard.update(UpdateOperation.create_field_index(field, params))

    def _check_vector(self, vector: FloatArray) -> None:
        if vector.shape != (self._dimension,):
            raise ValueError(f"expected a vector of shape ({self._dimension},), got {vector.shape}")

    def _flush_if_due(self) -> None:
        # Also bounds the log, which the engine truncates only on flush, and so the replay
        # time after a crash.
        if time.monotonic() - self._last_flush >= _FLUSH_INTERVAL_S:
            self.flush()


def _dense(vector: object) -> FloatArray:
    """A stored point's vector as a float32 array (the engine returns it as a list, or as
    a mapping of the one unnamed vector)."""
    if isinstance(vector, dict):
        (vector,) = vector.values()
    return np.asarray(vector, dtype=np.float32)


def _stored_dimension(path: Path) -> int | None:
    """The dimension recorded in the shard's config, or None when it cannot be read."""
    try:
        config = json.loads((path / _CONFIG_FILE).read_text(encoding="utf-8"))
        size = config["vectors"][""]["size"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return size if isinstance(size, int) else None


def _filter(flt: VectorFilter) -> Filter | None:
    must: list[ConditionType] = [
        FieldCondition(field, match=MatchAny(list(values))) for field, values in flt.any_of()
    ]
    if flt.created_after is not None or flt.created_before is not None:
        created = RangeFloat(gte=flt.created_after, lt=flt.created_before)
        must.append(FieldCondition("created_at", range=created))
    return Filter(must=must) if must else None


def _needs_exact(flt: VectorFilter | None) -> bool:
    """Filters on fields without filter-aware graph links (see _PAYLOAD_INDEXES) can leave
    the HNSW graph disconnected and lose most of their recall; scan the matching points
    exactly instead (cheap when the filter is selective, correct always)."""
    if flt is None:
        return False
    return bool(
        flt.media_types
        or flt.tags
        or flt.created_after is not None
        or flt.created_before is not None
    )
