"""Fusing ranked lists from keyword and vector search into one ranking."""

from __future__ import annotations

from collections.abc import Sequence


def rrf(
    rankings: Sequence[Sequence[int]], weights: Sequence[float], *, k: int
) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), rank from 1."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


def weighted(
    scored: Sequence[Sequence[tuple[int, float]]], weights: Sequence[float]
) -> list[tuple[int, float]]:
    """Convex combination of per-list min-max normalized scores; absent from a list = 0."""
    scores: dict[int, float] = {}
    for hits, weight in zip(scored, weights, strict=True):
        if not hits:
            continue
        values = [score for _, score in hits]
        low, high = min(values), max(values)
        span = high - low
        for doc, score in hits:
            normalized = (score - low) / span if span > 0 else 1.0
            scores[doc] = scores.get(doc, 0.0) + weight * normalized
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)
