"""A streamed chat completion as the Responses API's semantic events.

response.created, response.in_progress, (the file_search call's item and events, when the
tool was used), then for the message: output_item.added, content_part.added,
output_text.delta per text chunk (output_text.annotation.added per citation),
output_text.done, content_part.done, output_item.done; for each function call the model
makes: output_item.added, function_call_arguments.delta per fragment,
function_call_arguments.done, output_item.done; then response.completed (or
response.incomplete when the answer hit max_output_tokens). A failure midway sends an
`error` event and response.failed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Any

from pydantic import BaseModel

from mmstack.api.errors import error_response
from mmstack.api.routes.openai.event_stream import sse_event
from mmstack.api.routes.openai.responses_output import ResponseBuilder, annotations_of
from mmstack.api.routes.openai.schemas.responses import (
    FunctionCallItem,
    OutputItem,
    OutputMessage,
    OutputText,
    ResponseObject,
)
from mmstack.llm.backend import ChatStream
from mmstack.llm.types import ToolCall, Usage


class SequencedEvents:
    """Numbers the events in the order they are sent."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, type_: str, **fields: Any) -> bytes:
        data = {"type": type_, "sequence_number": self._next, **fields}
        self._next += 1
        return sse_event(data, event=type_)


def as_json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


async def response_events(
    builder: ResponseBuilder,
    stream: ChatStream,
    on_done: Callable[[ResponseObject], Awaitable[None]] | None = None,
) -> AsyncGenerator[bytes, None]:
    """`on_done` is given the final response (completed or incomplete) before the event
    that ends the stream: what is kept is there when the client learns it is done."""
    event = SequencedEvents()
    yield event("response.created", response=as_json(builder.response()))
    yield event("response.in_progress", response=as_json(builder.response()))
    index = 0
    if builder.searched:
        search = builder.search_call()
        started = search.model_copy(update={"status": "in_progress"})
        yield event("response.output_item.added", output_index=0, item=as_json(started))
        for stage in ("in_progress", "searching", "completed"):
            yield event(f"response.file_search_call.{stage}", output_index=0, item_id=search.id)
        yield event("response.output_item.done", output_index=0, item=as_json(search))
        index = 1
    items = _Items(builder, event, first_index=index)
    usage: Usage | None = None
    finish: str | None = None
    try:
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                if choice.delta.content:
                    for sent in items.text(choice.delta.content):
                        yield sent
                for annotation in annotations_of(choice.delta.model_extra):
                    for sent in items.annotation(annotation):
                        yield sent
                for call in choice.delta.tool_calls or ():
                    for sent in items.call(call):
                        yield sent
                finish = choice.finish_reason or finish
    except Exception as exc:  # the status line is sent: the failure goes in the stream
        error = error_response(exc)[1]["error"]
        assert isinstance(error, dict)
        yield event("error", code=error["code"], message=error["message"], param=error["param"])
        failed = builder.response(
            "failed",
            items.output(None, cut=True),
            error={"code": "server_error", "message": error["message"]},
        )
        yield event("response.failed", response=as_json(failed))
        return

    for sent in items.close(finish):
        yield sent
    final = builder.response("completed", items.output(finish), usage=usage, finish_reason=finish)
    if on_done is not None:
        await on_done(final)
    done = "response.completed" if final.status == "completed" else "response.incomplete"
    yield event(done, response=as_json(final))


class _Items:
    """The message and the function calls of a streamed answer, each an output item opened
    when its first delta comes (the message at the end when nothing else came)."""

    def __init__(
        self, builder: ResponseBuilder, event: SequencedEvents, *, first_index: int
    ) -> None:
        self._builder = builder
        self._event = event
        self._next_index = first_index
        self._message_index: int | None = None
        self._text: list[str] = []
        self._annotations: list[dict[str, Any]] = []
        self._calls: dict[int, tuple[int, FunctionCallItem, list[str]]] = {}

    def _where(self) -> dict[str, Any]:
        return {"item_id": self._builder.message_id, "output_index": self._message_index}

    def _open_message(self) -> Iterator[bytes]:
        if self._message_index is not None:
            return
        self._message_index, self._next_index = self._next_index, self._next_index + 1
        opened = OutputMessage(id=self._builder.message_id)
        yield self._event(
            "response.output_item.added", output_index=self._message_index, item=as_json(opened)
        )
        yield self._event(
            "response.content_part.added",
            **self._where(),
            content_index=0,
            part=as_json(OutputText()),
        )

    def text(self, delta: str) -> Iterator[bytes]:
        yield from self._open_message()
        self._text.append(delta)
        yield self._event(
            "response.output_text.delta", **self._where(), content_index=0, delta=delta, logprobs=[]
        )

    def annotation(self, annotation: dict[str, Any]) -> Iterator[bytes]:
        yield from self._open_message()
        yield self._event(
            "response.output_text.annotation.added",
            **self._where(),
            content_index=0,
            annotation_index=len(self._annotations),
            annotation=annotation,
        )
        self._annotations.append(annotation)

    def call(self, delta: ToolCall) -> Iterator[bytes]:
        position = int((delta.model_extra or {}).get("index", len(self._calls)))
        function = delta.function
        if position not in self._calls:
            name = (function.name if function else None) or ""
            item = self._builder.function_call(delta.id, name, "", done=False)
            self._calls[position] = (self._next_index, item, [])
            self._next_index += 1
            yield self._event(
                "response.output_item.added",
                output_index=self._calls[position][0],
                item=as_json(item),
            )
        index, item, arguments = self._calls[position]
        if function is not None and function.arguments:
            arguments.append(function.arguments)
            yield self._event(
                "response.function_call_arguments.delta",
                item_id=item.id,
                output_index=index,
                delta=function.arguments,
            )

    def _message(self, finish: str | None) -> OutputMessage | None:
        if self._message_index is None:
            return None
        return self._builder.message("".join(self._text), self._annotations, finish)

    def _finished_calls(
        self, finish: str | None, *, cut: bool = False
    ) -> list[tuple[int, FunctionCallItem]]:
        """The calls, whole (incomplete when the stream failed or hit the token limit)."""
        status = "incomplete" if cut or finish == "length" else "completed"
        return [
            (index, item.model_copy(update={"arguments": "".join(arguments), "status": status}))
            for index, item, arguments in sorted(self._calls.values(), key=lambda c: c[0])
        ]

    def close(self, finish: str | None) -> Iterator[bytes]:
        if self._message_index is None and not self._calls:
            yield from self._open_message()  # an answer of no text is still a message
        message = self._message(finish)
        if message is not None:
            part = message.content[0]
            where = self._where()
            yield self._event(
                "response.output_text.done", **where, content_index=0, text=part.text, logprobs=[]
            )
            yield self._event(
                "response.content_part.done", **where, content_index=0, part=as_json(part)
            )
            yield self._event(
                "response.output_item.done", output_index=self._message_index, item=as_json(message)
            )
        for index, item in self._finished_calls(finish):
            yield self._event(
                "response.function_call_arguments.done",
                item_id=item.id,
                output_index=index,
                name=item.name,
                arguments=item.arguments,
            )
            yield self._event("response.output_item.done", output_index=index, item=as_json(item))

    def output(self, finish: str | None, *, cut: bool = False) -> list[OutputItem]:
        """The items in their order (`cut`: the stream failed, the message is incomplete)."""
        items: list[tuple[int, OutputItem]] = list(self._finished_calls(finish, cut=cut))
        message = self._message(finish)
        if message is not None and self._message_index is not None:
            if cut:
                message = message.model_copy(update={"status": "incomplete"})
            items.append((self._message_index, message))
        searched = [self._builder.search_call()] if self._builder.searched else []
        return [*searched, *(item for _, item in sorted(items, key=lambda pair: pair[0]))]
