"""Server-sent events decoded straight from a response body's bytes, as they arrive.

The usual event (one `data:` line, then a blank line) costs a `find` and a slice; anything
else (comments, `event:`, several `data:` lines, CRLF or CR line ends) is read by the full
rules of the event-stream format.
"""

from __future__ import annotations

from mmstack.llm.sse import Event

_BOM = b"\xef\xbb\xbf"


class SseDecoder:
    """Feed it the body in pieces of any size; it returns each event once it is complete."""

    __slots__ = ("_buffer", "_started")

    def __init__(self) -> None:
        self._buffer = b""
        self._started = False

    def feed(self, data: bytes) -> list[Event]:
        buffer = self._buffer + data if self._buffer else data
        if not self._started:
            if _BOM.startswith(buffer[:3]) and len(buffer) < 3:  # maybe a BOM, cut short
                self._buffer = buffer
                return []
            self._started = True
            buffer = buffer.removeprefix(_BOM)
        held = b""
        if b"\r" in buffer:
            # Lines may end in CRLF or a lone CR too. A CR at the very end may be the first
            # half of a CRLF, so it waits for the next piece.
            if buffer.endswith(b"\r"):
                buffer, held = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *blocks, rest = buffer.split(b"\n\n")
        self._buffer = rest + held
        return [event for block in blocks if (event := _event(block)) is not None]

    def end(self) -> list[Event]:
        """The last event, when the body ends without its blank line."""
        rest, self._buffer = self._buffer.rstrip(b"\r\n"), b""
        event = _event(rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n")) if rest else None
        return [] if event is None else [event]


def _event(block: bytes) -> Event | None:
    """One event's lines; None when it has no data (a comment, a retry hint)."""
    if block.startswith(b"data: ") and b"\n" not in block:
        return Event(block[6:].decode(errors="replace"))
    data: list[bytes] = []
    name = "message"
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode(errors="replace") or "message"
    if not data:
        return None
    return Event(b"\n".join(data).decode(errors="replace"), name)
