"""Composition-root behaviour: when the embedded vector index builds its search graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmstack.index.vector import VectorPayload, VectorPoint
from mmstack.index.vector_edge import EdgeVectorIndex
from mmstack.stack.builders import optimize_when_due


def test_optimize_when_enough_vectors_are_unindexed(tmp_path: Path) -> None:
    index = EdgeVectorIndex(tmp_path / "vectors", 384)
    try:
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((8000, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        payload = VectorPayload("vs_1", "file-1", "text/plain", 0)
        index.upsert([VectorPoint(i, vectors[i], payload) for i in range(len(vectors))])
        assert index.stats().indexed == 0

        optimize_when_due(index, 0)  # 0: never
        optimize_when_due(index, 8001)  # not enough unindexed yet
        assert index.stats().indexed == 0

        optimize_when_due(index, 5000)
        stats = index.stats()
        assert stats.indexed == stats.points == 8000
        hits = index.search(vectors[42], limit=1)
        assert hits[0].id == 42
    finally:
        index.close()
