"""Markers renumbered 1, 2, 3 by first appearance for clients that number sources by order,
citations moved with them, whole or streamed in pieces."""

from __future__ import annotations

import dataclasses

from mmstack.answer.source_numbers import SourceNumbers
from mmstack.answer.types import Answer, Citation


def _citation(number: int, text: str, marker: str) -> Citation:
    start = text.index(marker)
    return Citation(
        number=number,
        chunk_id=number,
        collection_id="vs_1",
        file_id=f"file-{number}",
        filename=f"f{number}.pdf",
        page_start=number,
        page_end=number,
        heading_path=[],
        quote="q",
        quote_start=0,
        quote_end=1,
        marker_start=start,
        marker_end=start + len(marker),
    )


def test_markers_are_numbered_in_order_of_first_appearance() -> None:
    text = "Valves corroded [3]. They were replaced in 2024 [12]. The plant shut [3]. See [2024]."
    first = _citation(3, text, "[3]")
    second = _citation(12, text, "[12]")
    last_start = text.rindex("[3]")
    third = dataclasses.replace(first, marker_start=last_start, marker_end=last_start + 3)
    answer = Answer("q", "m", text, [first, second, third], refused=False)

    renumbered = SourceNumbers().answer(answer)

    assert renumbered.text == (
        "Valves corroded [1]. They were replaced in 2024 [2]. The plant shut [1]. See [2024]."
    )
    assert [c.number for c in renumbered.citations] == [1, 2, 1]
    for citation in renumbered.citations:
        marker = renumbered.text[citation.marker_start : citation.marker_end]
        assert marker == f"[{citation.number}]"


def test_a_streamed_answer_gets_the_same_numbers_piece_by_piece() -> None:
    pieces = ["Pumps fail [4][2]. ", "Seals leak [2]. ", "Nothing else [4]."]
    numbers = SourceNumbers()
    streamed = "".join(numbers.text(piece) for piece in pieces)
    assert streamed == "Pumps fail [1][2]. Seals leak [2]. Nothing else [1]."
    text = "".join(pieces)
    whole = numbers.answer(Answer("q", "m", text, [_citation(2, text, "[2]")], refused=False))
    assert whole.text == streamed
    (citation,) = whole.citations
    assert citation.number == 2
    assert whole.text[citation.marker_start : citation.marker_end] == "[2]"
