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
    # Vectorized; the same operations in the same order as the per-document sum, ties
    # kept in order of first appearance (a stable sort, as `sorted` is).
    parts = [
        (np.fromiter((d for d, _ in hits), np.int64, len(hits)),
         np.fromiter((s for _, s in hits), np.float64, len(hits)), weight)
        for hits, weight in zip(scored, weights, strict=True)
        if hits
    ]  # fmt: skip
    if not parts:
        return []
    every = np.concatenate([ids for ids, _, _ in parts])
    _, first = np.unique(every, return_index=True)
    candidates = every[np.sort(first)]
    position = {doc: n for n, doc in enumerate(candidates.tolist())}
    fused = np.zeros(len(candidates))
    for ids, values, weight in parts:
        if method == "zscore":
            center, scale = float(values.mean()), float(values.std())
        else:
            center, scale = float(values.min()), float(values.max() - values.min())
        scale = scale or 1.0
        contribution = np.full(len(candidates), weight * ((float(values.min()) - center) / scale))
        at = np.fromiter((position[d] for d in ids.tolist()), np.int64, len(ids))
        contribution[at] = weight * ((values - center) / scale)
        fused += contribution
    order = np.argsort(-fused, kind="stable")
    return list(zip(candidates[order].tolist(), fused[order].tolist(), strict=True))
