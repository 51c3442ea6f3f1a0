"""The vector index in a collection of a Qdrant server, through qdrant-client.

Writes use `wait=True`: when they return, the server has logged them in its write-ahead
log and applied them. The server optimizes (builds HNSW) in the background by itself.
A `QdrantClient` for a server (HTTP or gRPC) can be shared by threads, so there is no lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from mmstack.arrays import FloatArray
from mmstack.config.settings import VectorSettings
from mmstack.index.vector import (
    VectorFilter,
    VectorHit,
    VectorIndexStats,
    VectorPoint,
    point_id,
)

_SCROLL_PAGE = 1024
_UPSERT_BATCH = 512
_OPTIMIZE_POLL_S = 0.5

_PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType | models.IntegerIndexParams] = {
    "collection_id": models.PayloadSchemaType.KEYWORD,
    "file_id": models.PayloadSchemaType.KEYWORD,
    "media_type": models.PayloadSchemaType.KEYWORD,
    "tags": models.PayloadSchemaType.KEYWORD,
    "created_at": models.IntegerIndexParams(
        type=models.IntegerIndexType.INTEGER, lookup=False, range=True
    ),
}


def server_client(settings: VectorSettings) -> QdrantClient:
    """A client of the configured Qdrant server."""
    # A minute: a large upsert or a payload index on a big collection outlasts httpx's 5 s.
    return QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key, timeout=60)


class QdrantServerVectorIndex:
    """A `VectorIndex` in `collection`, created on first use; cosine similarity.

    The index takes over `client`: `close()` closes it.
    """

    def __init__(self, client: QdrantClient, collection: str, dimension: int) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension}")
        self._client = client
        self._collection = collection
        self._dimension = dimension
        if not client.collection_exists(collection):
            try:
                client.create_collection(
                    collection,
                    vectors_config=models.VectorParams(
                        size=dimension, distance=models.Distance.COSINE
                    ),
                )
            except UnexpectedResponse as exc:
                # API and worker processes starting together race to create it: one wins.
                if exc.status_code not in (400, 409) or not client.collection_exists(collection):
                    raise
        self._check_vectors()
        existing = client.get_collection(collection).payload_schema
        for field, schema in _PAYLOAD_INDEXES.items():
            if field not in existing:
                client.create_payload_index(collection, field, field_schema=schema, wait=True)

    @property
    def dimension(self) -> int:
        return self._dimension

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        for p in points:
            self._check_vector(p.vector)
        # In batches: a long file's points in one request would pass the server's request
        # size limit (32 MiB by default; a 384-dimension point is about 8 KB as JSON).
        for start in range(0, len(points), _UPSERT_BATCH):
            structs = [
                models.PointStruct(id=p.id, vector=p.vector.tolist(), payload=p.payload.as_dict())
                for p in points[start : start + _UPSERT_BATCH]
            ]
            self._client.upsert(self._collection, points=structs, wait=True)

    def delete(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        selector = models.PointIdsList(points=list(ids))
        self._client.delete(self._collection, points_selector=selector, wait=True)

    def delete_where(self, flt: VectorFilter) -> None:
        """Refuses a filter with no field set rather than wiping the collection."""
        if flt.matches_nothing():
            return
        condition = _filter(flt)
        if condition is None:
            raise ValueError("delete_where needs a filter with at least one field set")
        selector = models.FilterSelector(filter=condition)
        self._client.delete(self._collection, points_selector=selector, wait=True)

    def search(
        self, vector: FloatArray, *, limit: int, flt: VectorFilter | None = None
    ) -> list[VectorHit]:
        self._check_vector(vector)
        if limit < 1 or (flt is not None and flt.matches_nothing()):
            return []
        response = self._client.query_points(
            self._collection,
            query=vector,
            query_filter=_filter(flt) if flt is not None else None,
            limit=limit,
            with_payload=False,
            with_vectors=False,
        )
        return [VectorHit(id=point_id(p.id), score=p.score) for p in response.points]

    def iter_ids(self) -> Iterator[int]:
        for record in self._scroll(with_vectors=False):
            yield point_id(record.id)

    def iter_vectors(self) -> Iterator[tuple[int, FloatArray]]:
        for record in self._scroll(with_vectors=True):
            # The one unnamed dense vector of this collection's points.
            yield point_id(record.id), np.asarray(record.vector, dtype=np.float32)

    def _scroll(self, *, with_vectors: bool) -> Iterator[models.Record]:
        offset: models.ExtendedPointId | None = None
        while True:
            records, next_offset = self._client.scroll(
                self._collection,
                limit=_SCROLL_PAGE,
                offset=offset,
                with_payload=False,
                with_vectors=with_vectors,
            )
            yield from records
            if next_offset is None:
                return
            offset = point_id(next_offset)

    def stats(self) -> VectorIndexStats:
        info = self._client.get_collection(self._collection)
        # The collection's points_count is an estimate; count exactly.
        points = self._client.count(self._collection, exact=True).count
        return VectorIndexStats(
            points=points,
            indexed=info.indexed_vectors_count or 0,
            extra={"segments": info.segments_count},
        )

    def optimize(self) -> None:
        """Wait until the server's optimizers are done, starting them if they are pending."""
        while True:
            info = self._client.get_collection(self._collection)
            if info.status == models.CollectionStatus.GREEN:
                return
            if info.status == models.CollectionStatus.RED:
                raise RuntimeError(
                    f"Qdrant collection {self._collection} failed to optimize: "
                    f"{info.optimizer_status}"
                )
            if info.status == models.CollectionStatus.GREY:
                # An empty diff is the documented way to start pending optimizations.
                self._client.update_collection(
                    self._collection, optimizers_config=models.OptimizersConfigDiff()
                )
            time.sleep(_OPTIMIZE_POLL_S)

    def close(self) -> None:
        self._client.close()

    def _check_vectors(self) -> None:
        params = self._client.get_collection(self._collection).config.params.vectors
        if not isinstance(params, models.VectorParams):
            raise ValueError(
                f"Qdrant collection {self._collection} has named vectors; "
                "it was not created by mmstack"
            )
        if params.size != self._dimension or params.distance != models.Distance.COSINE:
            raise ValueError(
                f"Qdrant collection {self._collection} holds {params.size}-dimensional "
                f"{params.distance.value} vectors, not {self._dimension}-dimensional Cosine; "
                "the embedding model changed: drop the collection to rebuild the index"
            )

    def _check_vector(self, vector: FloatArray) -> None:
        if vector.shape != (self._dimension,):
            raise ValueError(f"expected a vector of shape ({self._dimension},), got {vector.shape}")


def _filter(flt: VectorFilter) -> models.Filter | None:
    must: list[models.Condition] = [
        models.FieldCondition(key=field, match=models.MatchAny(any=list(values)))
        for field, values in flt.any_of()
    ]
    if flt.created_after is not None or flt.created_before is not None:
        created = models.Range(gte=flt.created_after, lt=flt.created_before)
        must.append(models.FieldCondition(key="created_at", range=created))
    return models.Filter(must=must) if must else None
