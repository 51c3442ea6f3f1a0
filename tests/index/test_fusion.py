from __future__ import annotations

import pytest

from mmstack.index.fusion import normalized, rrf


def test_rrf_weights_and_ranks() -> None:
    fused = dict(rrf(([1, 2, 3], [3, 4]), (1.0, 2.0), k=10))
    assert fused[3] == pytest.approx(1 / 13 + 2 / 11)
    assert fused[4] == pytest.approx(2 / 12)
    assert max(fused, key=fused.__getitem__) == 3


def test_zscore_standardizes_each_side_and_floors_missing_documents() -> None:
    keyword = [(1, 30.0), (2, 20.0), (3, 10.0)]  # mean 20, std 8.165
    vector = [(3, 0.9), (4, 0.5)]  # mean 0.7, std 0.2
    fused = dict(normalized((keyword, vector), (0.5, 0.5)))
    std = (200 / 3) ** 0.5
    assert fused[1] == pytest.approx(0.5 * (10 / std) + 0.5 * -1.0)  # missing: vector floor
    assert fused[3] == pytest.approx(0.5 * (-10 / std) + 0.5 * 1.0)
    assert fused[4] == pytest.approx(0.5 * (-10 / std) + 0.5 * -1.0)  # missing: keyword floor
    # The scales of the raw scores do not matter, only each side's spread.
    rescaled = dict(normalized(([(d, s * 1000) for d, s in keyword], vector), (0.5, 0.5)))
    assert rescaled == pytest.approx(fused)


def test_minmax_and_empty_sides() -> None:
    fused = normalized(([(1, 5.0), (2, 1.0)], []), (1.0, 1.0), method="minmax")
    assert fused == [(1, 1.0), (2, 0.0)]
    assert normalized(([], []), (0.5, 0.5)) == []
