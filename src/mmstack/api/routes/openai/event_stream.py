"""Server-sent events out of the /v1 endpoints, tied to the generation behind them.

When a client disconnects, Starlette cancels the task sending the response; the generation
would then go on until garbage collection found it. `EventStreamResponse` closes its
source however the response ends (finished, failed, or the client gone), which stops the
generation at its next token (embedded) or hangs up on the upstream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from mmstack.llm.backend import ChatStream

log = logging.getLogger(__name__)

_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_event(data: str | dict[str, Any], event: str | None = None) -> bytes:
    """One event: `event: <name>` (when named) and a `data:` line holding one JSON line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


class EventStreamResponse(StreamingResponse):
    def __init__(
        self, events: AsyncGenerator[bytes, None], source: ChatStream | None = None
    ) -> None:
        """`source`: the generation the events come from, closed with them (none when the
        events tell of work already done)."""
        self._events = events
        self._source = source
        self._finished = False
        self._body = self._follow()
        super().__init__(self._body, media_type="text/event-stream", headers=_HEADERS)

    async def _follow(self) -> AsyncGenerator[bytes, None]:
        async for event in self._events:
            yield event
        self._finished = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Shielded: a server shutting down cancels this task too, and the close must run.
            with anyio.CancelScope(shield=True):
                try:
                    await self._body.aclose()
                    await self._events.aclose()
                finally:
                    if self._source is not None:
                        await self._source.aclose()
            if not self._finished:
                log.info("event stream cut short (client gone); generation stopped")
