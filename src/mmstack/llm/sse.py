"""Server-sent events, as OpenAI-compatible servers stream completions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    data: str
    event: str = "message"


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """The events in a stream of lines; comments, ids and retry hints skipped."""
    data: list[str] = []
    event = "message"
    async for line in lines:
        if not line:
            if data:
                yield Event("\n".join(data), event)
            data, event = [], "message"
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:  # the last event, when the stream ends without its blank line
        yield Event("\n".join(data), event)
