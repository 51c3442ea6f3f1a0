"""The Responses API's semantic events for a response already made: a response whose
tool loop ran (`mcp_loop`) is streamed once it is done, each output item with the events
of its kind, in order, as the SDK's stream helpers expect them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator

from mmstack.api.routes.openai.responses_events import SequencedEvents, as_json
from mmstack.api.routes.openai.schemas.responses import (
    FunctionCallItem,
    McpCallItem,
    McpListToolsItem,
    OutputItem,
    OutputMessage,
    OutputText,
    ResponseObject,
)


async def replayed_events(
    response: ResponseObject, on_done: Callable[[ResponseObject], Awaitable[None]]
) -> AsyncGenerator[bytes, None]:
    """`on_done` is given the response before the event that ends the stream."""
    event = SequencedEvents()
    started = response.model_copy(
        update={
            "status": "in_progress",
            "output": [],
            "usage": None,
            "completed_at": None,
            "incomplete_details": None,
        }
    )
    yield event("response.created", response=as_json(started))
    yield event("response.in_progress", response=as_json(started))
    for index, item in enumerate(response.output):
        for sent in _item_events(event, index, item):
            yield sent
    await on_done(response)
    done = "response.completed" if response.status == "completed" else "response.incomplete"
    yield event(done, response=as_json(response))


def _item_events(event: SequencedEvents, index: int, item: OutputItem) -> Iterator[bytes]:
    where = {"item_id": item.id, "output_index": index}
    opened: OutputItem
    if isinstance(item, OutputMessage):
        opened = item.model_copy(update={"status": "in_progress", "content": []})
        yield event("response.output_item.added", output_index=index, item=as_json(opened))
        for n, part in enumerate(item.content):
            yield from _text_events(event, where, n, part)
    elif isinstance(item, FunctionCallItem):
        opened = item.model_copy(update={"status": "in_progress", "arguments": ""})
        yield event("response.output_item.added", output_index=index, item=as_json(opened))
        yield event("response.function_call_arguments.delta", **where, delta=item.arguments)
        yield event(
            "response.function_call_arguments.done",
            **where,
            name=item.name,
            arguments=item.arguments,
        )
    elif isinstance(item, McpListToolsItem):
        opened = item.model_copy(update={"tools": []})
        yield event("response.output_item.added", output_index=index, item=as_json(opened))
        yield event("response.mcp_list_tools.in_progress", **where)
        yield event("response.mcp_list_tools.completed", **where)
    elif isinstance(item, McpCallItem):
        opened = item.model_copy(
            update={"status": "in_progress", "arguments": "", "output": None, "error": None}
        )
        yield event("response.output_item.added", output_index=index, item=as_json(opened))
        yield event("response.mcp_call.in_progress", **where)
        yield event("response.mcp_call_arguments.delta", **where, delta=item.arguments)
        yield event("response.mcp_call_arguments.done", **where, arguments=item.arguments)
        ended = "failed" if item.status == "failed" else "completed"
        yield event(f"response.mcp_call.{ended}", **where)
    else:  # an approval request, or a file search (never with a tool loop): whole at once
        yield event("response.output_item.added", output_index=index, item=as_json(item))
    yield event("response.output_item.done", output_index=index, item=as_json(item))


def _text_events(
    event: SequencedEvents, where: dict[str, object], n: int, part: OutputText
) -> Iterator[bytes]:
    yield event("response.content_part.added", **where, content_index=n, part=as_json(OutputText()))
    yield event(
        "response.output_text.delta", **where, content_index=n, delta=part.text, logprobs=[]
    )
    for m, annotation in enumerate(part.annotations):
        yield event(
            "response.output_text.annotation.added",
            **where,
            content_index=n,
            annotation_index=m,
            annotation=annotation,
        )
    yield event("response.output_text.done", **where, content_index=n, text=part.text, logprobs=[])
    yield event("response.content_part.done", **where, content_index=n, part=as_json(part))
