"""The vector index interface. Adapters: `vector_edge` (in-process Qdrant engine, the
embedded default) and `vector_qdrant` (a Qdrant server through qdrant-client).

The SQL database is the source of truth; the vector index is derived from it and keyed by
chunk id, so it can always be rebuilt or reconciled from the chunks table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mmstack.arrays import FloatArray


@dataclass(frozen=True, slots=True)
class VectorPayload:
    """What a vector carries so the index can filter without asking the database."""

    collection_id: str
    file_id: str
    media_type: str
    created_at: int  # unix seconds, the file's creation time
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The payload as stored in the engine (field names match `VectorFilter`'s)."""
        return {
            "collection_id": self.collection_id,
            "file_id": self.file_id,
            "media_type": self.media_type,
            "created_at": self.created_at,
            "tags": list(self.tags),
        }


@dataclass(frozen=True, slots=True)
class VectorPoint:
    id: int  # the chunk id
    vector: FloatArray  # 1-D, length == index dimension, L2-normalized
    payload: VectorPayload


@dataclass(frozen=True, slots=True)
class VectorFilter:
    """Every set field must match (AND); within a list field any value matches (OR)."""

    collection_ids: Sequence[str] | None = None
    file_ids: Sequence[str] | None = None
    media_types: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    created_after: int | None = None  # inclusive, unix seconds
    created_before: int | None = None  # exclusive, unix seconds

    def is_empty(self) -> bool:
        """True when no field is set: the filter matches everything."""
        return all(getattr(self, name) is None for name in self.__slots__)

    def any_of(self) -> list[tuple[str, Sequence[str]]]:
        """The set any-of conditions, as (payload field, accepted values)."""
        fields = (
            ("collection_id", self.collection_ids),
            ("file_id", self.file_ids),
            ("media_type", self.media_types),
            ("tags", self.tags),
        )
        return [(field, values) for field, values in fields if values is not None]

    def matches_nothing(self) -> bool:
        """An empty any-of list matches no point (as SQL's `IN ()`); decided here so every
        engine agrees."""
        return any(len(values) == 0 for _, values in self.any_of())


@dataclass(frozen=True, slots=True)
class VectorHit:
    id: int
    score: float  # cosine similarity, higher is closer


@dataclass(slots=True)
class VectorIndexStats:
    points: int
    indexed: int
    extra: dict[str, int] = field(default_factory=dict)


def point_id(value: object) -> int:
    """A point id read back from an engine: always the integer chunk id."""
    if not isinstance(value, int):
        raise TypeError(f"vector index holds a non-integer point id {value!r}")
    return value


class VectorIndex(Protocol):
    @property
    def dimension(self) -> int: ...

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        """Insert or replace points by id; durable when this returns."""

    def delete(self, ids: Sequence[int]) -> None:
        """Remove points by id; unknown ids are ignored."""

    def delete_where(self, flt: VectorFilter) -> None:
        """Remove every point matching the filter (used to drop a collection)."""

    def search(
        self, vector: FloatArray, *, limit: int, flt: VectorFilter | None = None
    ) -> list[VectorHit]:
        """The `limit` nearest points by cosine similarity, best first."""

    def iter_ids(self) -> Iterator[int]:
        """Every point id, for reconciliation with the database."""

    def iter_vectors(self) -> Iterator[tuple[int, FloatArray]]:
        """Every point's id and vector (a backup's or an export's copy of the index)."""

    def stats(self) -> VectorIndexStats: ...

    def optimize(self) -> None:
        """Build or refresh search structures (HNSW); may take a while on large indexes."""

    def close(self) -> None: ...
