"""A streamed chat completion as the Responses API's semantic events.

response.created, response.in_progress, (the file_search call's item and events, when the
tool was used), output_item.added, content_part.added, output_text.delta per text chunk
(output_text.annotation.added per citation), output_text.done, content_part.done,
output_item.done, then response.completed (or response.incomplete when the answer hit
max_output_tokens). A failure midway sends an `error` event and response.failed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from mmstack.api.errors import error_response
from mmstack.api.routes.openai.event_stream import sse_event
from mmstack.api.routes.openai.responses_output import ResponseBuilder, annotations_of
from mmstack.api.routes.openai.schemas.responses import (
    OutputMessage,
    OutputText,
    ResponseObject,
)
from mmstack.llm.backend import ChatStream
from mmstack.llm.types import Usage


class _Events:
    """Numbers the events in the order they are sent."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, type_: str, **fields: Any) -> bytes:
        data = {"type": type_, "sequence_number": self._next, **fields}
        self._next += 1
        return sse_event(data, event=type_)


def _json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


async def response_events(
    builder: ResponseBuilder,
    stream: ChatStream,
    on_done: Callable[[ResponseObject], Awaitable[None]] | None = None,
) -> AsyncGenerator[bytes, None]:
    """`on_done` is given the final response (completed or incomplete) before the event
    that ends the stream: what is kept is there when the client learns it is done."""
    event = _Events()
    yield event("response.created", response=_json(builder.response()))
    yield event("response.in_progress", response=_json(builder.response()))
    index = 0
    if builder.searched:
        call = builder.search_call()
        started = call.model_copy(update={"status": "in_progress"})
        yield event("response.output_item.added", output_index=0, item=_json(started))
        for stage in ("in_progress", "searching", "completed"):
            yield event(f"response.file_search_call.{stage}", output_index=0, item_id=call.id)
        yield event("response.output_item.done", output_index=0, item=_json(call))
        index = 1
    where: dict[str, Any] = {"item_id": builder.message_id, "output_index": index}
    opened = OutputMessage(id=builder.message_id)
    yield event("response.output_item.added", output_index=index, item=_json(opened))
    yield event("response.content_part.added", **where, content_index=0, part=_json(OutputText()))

    text: list[str] = []
    annotations: list[dict[str, Any]] = []
    usage: Usage | None = None
    finish: str | None = None
    try:
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                if choice.delta.content:
                    text.append(choice.delta.content)
                    yield event(
                        "response.output_text.delta",
                        **where,
                        content_index=0,
                        delta=choice.delta.content,
                        logprobs=[],
                    )
                for annotation in annotations_of(choice.delta.model_extra):
                    yield event(
                        "response.output_text.annotation.added",
                        **where,
                        content_index=0,
                        annotation_index=len(annotations),
                        annotation=annotation,
                    )
                    annotations.append(annotation)
                finish = choice.finish_reason or finish
    except Exception as exc:  # the status line is sent: the failure goes in the stream
        error = error_response(exc)[1]["error"]
        assert isinstance(error, dict)
        yield event("error", code=error["code"], message=error["message"], param=error["param"])
        cut = builder.message("".join(text), annotations, None)
        failed = builder.response(
            "failed",
            builder.output(cut.model_copy(update={"status": "incomplete"})),
            error={"code": "server_error", "message": error["message"]},
        )
        yield event("response.failed", response=_json(failed))
        return

    message = builder.message("".join(text), annotations, finish)
    part = message.content[0]
    yield event("response.output_text.done", **where, content_index=0, text=part.text, logprobs=[])
    yield event("response.content_part.done", **where, content_index=0, part=_json(part))
    yield event("response.output_item.done", output_index=index, item=_json(message))
    output = builder.output(message)
    final = builder.response("completed", output, usage=usage, finish_reason=finish)
    if on_done is not None:
        await on_done(final)
    done = "response.completed" if final.status == "completed" else "response.incomplete"
    yield event(done, response=_json(final))
