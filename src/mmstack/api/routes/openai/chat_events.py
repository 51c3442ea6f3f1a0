"""A chat-completions stream as OpenAI sends it: one `data:` event per chunk, then
`data: [DONE]`; a failure after the first chunk ends the stream with an error event.

Chunks go out without their null fields: a delta carries only what it adds (a tool call's
later parts have no `"type": null`, which the SDK's stream helper would take as a change).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from mmstack.api.errors import error_response
from mmstack.api.routes.openai.event_stream import sse_event
from mmstack.llm.backend import ChatStream

DONE = b"data: [DONE]\n\n"


async def chat_events(stream: ChatStream) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in stream:
            yield sse_event(chunk.model_dump_json(exclude_none=True))
    except Exception as exc:  # the status line is sent: the error can only go in the stream
        yield sse_event(error_response(exc)[1])
        return
    yield DONE
