"""Fusing ranked lists from keyword and vector search into one ranking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np


def rrf(
    rankings: Sequence[Sequence[int]], weights: Sequence[float], *, k: int
) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), rank from 1."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


def normalized(
    scored: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    *,
    method: Literal["zscore", "minmax"] = "zscore",
) -> list[tuple[int, float]]:
    """Weighted sum of per-list normalized scores.

    Each list's scores are standardized (z-score: mean 0, unit deviation; or min-max to
    [0, 1]) over that list's candidates, so BM25 and cosine scores become comparable per
    query. A document missing from a list gets that list's lowest normalized score: it
    ranked below everything the list returned.
    """
    normalized_lists: list[tuple[dict[int, float], float, float]] = []
    for hits, weight in zip(scored, weights, strict=True):
        if not hits:
            continue
        values = np.fromiter((score for _, score in hits), dtype=np.float64, count=len(hits))
        if method == "zscore":
            center, scale = float(values.mean()), float(values.std())
        else:
            center, scale = float(values.min()), float(values.max() - values.min())
        scale = scale or 1.0
        by_doc = {doc: (score - center) / scale for doc, score in hits}
        normalized_lists.append((by_doc, (float(values.min()) - center) / scale, weight))
    candidates = dict.fromkeys(doc for hits in scored for doc, _ in hits)
    fused = {
        doc: sum(weight * by_doc.get(doc, floor) for by_doc, floor, weight in normalized_lists)
        for doc in candidates
    }
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)
