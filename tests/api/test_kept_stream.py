"""A conversation keeps a turn only when its answer's stream ended whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mmstack.api.routes.conversations import KeptStream
from mmstack.llm.types import ChatCompletionChunk

pytestmark = pytest.mark.anyio

CITATION = {"type": "file_citation", "file_id": "file-1", "index": 9}


def _chunk(content: str, annotations: list[dict[str, Any]] | None = None) -> ChatCompletionChunk:
    delta: dict[str, Any] = {"content": content}
    if annotations:
        delta["annotations"] = annotations
    return ChatCompletionChunk.model_validate(
        {"id": "c", "created": 0, "model": "m", "choices": [{"index": 0, "delta": delta}]}
    )


class Answer:
    """A finished answer's chunks, as a started stream gives them."""

    def __init__(self) -> None:
        self.closed = False
        self._chunks = iter([_chunk("Forty "), _chunk("engineers [1].", [CITATION])])

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.closed = True


async def test_a_whole_answer_is_kept_with_its_citations() -> None:
    kept: list[tuple[str, list[dict[str, Any]]]] = []

    async def keep(text: str, annotations: list[dict[str, Any]]) -> None:
        kept.append((text, annotations))

    stream = KeptStream(Answer(), keep)
    assert [c.choices[0].delta.content async for c in stream] == ["Forty ", "engineers [1]."]
    assert kept == [("Forty engineers [1].", [CITATION])]


async def test_an_answer_cut_short_keeps_nothing() -> None:
    kept: list[str] = []

    async def keep(text: str, annotations: list[dict[str, Any]]) -> None:
        kept.append(text)

    inner = Answer()
    stream = KeptStream(inner, keep)
    await stream.__anext__()
    await stream.aclose()  # the client went away
    assert inner.closed
    assert kept == []
