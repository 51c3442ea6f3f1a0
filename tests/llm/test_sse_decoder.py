"""Server-sent events decoded from raw bytes, however the body is cut into pieces."""

from __future__ import annotations

import pytest

from mmstack.llm.sse import Event
from mmstack.llm.sse_decoder import SseDecoder

BODY = (
    b": a comment\n\n"
    b'data: {"content": "h\xc3\xa9llo"}\n\n'
    b"event: error\ndata: line one\ndata:line two\n\n"
    b"id: 7\nretry: 100\n\n"
    b"data\n\n\n\n"
    b": between\ndata: [DONE]\n\n"
)
EVENTS = [
    Event('{"content": "héllo"}'),
    Event("line one\nline two", "error"),
    Event(""),
    Event("[DONE]"),
]


def _decode(body: bytes, size: int) -> list[Event]:
    decoder = SseDecoder()
    events = [e for at in range(0, len(body), size) for e in decoder.feed(body[at : at + size])]
    return events + decoder.end()


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(BODY) * 2])
def test_the_same_events_whatever_the_line_ends_and_pieces(line_end: bytes, size: int) -> None:
    assert _decode(BODY.replace(b"\n", line_end), size) == EVENTS


def test_an_event_is_returned_once_its_blank_line_arrives() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.feed(b"\ndata: tw") == [Event("one")]
    assert decoder.feed(b"o\r") == []
    assert decoder.feed(b"\n\r\n") == [Event("two")]
    assert decoder.end() == []


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n"])
def test_the_last_event_counts_without_its_blank_line(ending: bytes) -> None:
    assert _decode(b"data: first\n\ndata: last" + ending, 4) == [Event("first"), Event("last")]


@pytest.mark.parametrize("size", [1, 2, 64])
def test_a_leading_byte_order_mark_is_skipped(size: int) -> None:
    assert _decode(b"\xef\xbb\xbfdata: x\n\n", size) == [Event("x")]


def test_broken_utf8_is_replaced_not_raised() -> None:
    assert _decode(b"data: \xff\n\n", 64) == [Event("\ufffd")]
