"""Builds the Responses API's response object for one request, from a chat completion or
from what a stream has delivered so far."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from mmstack.api.routes.openai.schemas.responses import (
    ConversationRef,
    FileSearchCall,
    FunctionCallItem,
    OutputItem,
    OutputMessage,
    OutputText,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
    Status,
)
from mmstack.llm.types import ChatCompletion, ToolCall, Usage

# Chat finish reasons that leave a response incomplete, with the Responses API's reason.
# "max_tool_calls": a tool loop (`mcp_loop`) stopped at its step, call or time limit.
_INCOMPLETE = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
    "max_tool_calls": "max_tool_calls",
}


def annotations_of(extra: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Citations a grounded answer put on a message or delta (see `llm.grounding`)."""
    found = (extra or {}).get("annotations")
    if not isinstance(found, list):
        return []
    return [_flat(a) for a in found if isinstance(a, dict) and isinstance(a.get("type"), str)]


def _flat(annotation: dict[str, Any]) -> dict[str, Any]:
    """An annotation in the Responses API's shape: a chat completion's `url_citation`
    nests its fields, a response's has them at the top."""
    nested = annotation.get("url_citation")
    if annotation["type"] == "url_citation" and isinstance(nested, dict):
        return {"type": "url_citation", **nested}
    return annotation


class ResponseBuilder:
    def __init__(
        self, body: ResponsesRequest, *, search_query: str | None, stored: bool = False
    ) -> None:
        """`search_query`: what the file_search tool looked for; None when it was not used.
        `stored`: whether the response is kept."""
        self._body = body
        self.stored = stored
        self.id = f"resp_{uuid.uuid4().hex}"
        self.message_id = f"msg_{uuid.uuid4().hex}"
        self.search_id = f"fs_{uuid.uuid4().hex}"
        self._search_query = search_query
        self._created = int(time.time())

    @property
    def searched(self) -> bool:
        return self._search_query is not None

    def response(
        self,
        status: Status = "in_progress",
        output: list[OutputItem] | None = None,
        *,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> ResponseObject:
        body = self._body
        incomplete = _INCOMPLETE.get(finish_reason or "")
        if status == "completed" and incomplete:
            status = "incomplete"
        return ResponseObject(
            id=self.id,
            created_at=self._created,
            completed_at=int(time.time()) if status == "completed" else None,
            status=status,
            error=error,
            incomplete_details={"reason": incomplete} if status == "incomplete" else None,
            model=body.model,
            instructions=body.instructions,
            max_output_tokens=body.max_output_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            output=output or [],
            tool_choice=body.tool_choice,
            tools=body.tools,
            text=body.text or {"format": {"type": "text"}},
            metadata=body.metadata or {},
            user=body.user,
            store=self.stored,
            previous_response_id=body.previous_response_id,
            conversation=ConversationRef(id=body.conversation_id) if body.conversation_id else None,
            usage=_usage(usage),
        )

    def search_call(self) -> FileSearchCall:
        return FileSearchCall(
            id=self.search_id, status="completed", queries=[self._search_query or ""]
        )

    def message(
        self,
        text: str,
        annotations: list[dict[str, Any]],
        finish_reason: str | None,
    ) -> OutputMessage:
        status = "incomplete" if finish_reason in _INCOMPLETE else "completed"
        content = [OutputText(text=text, annotations=annotations)]
        return OutputMessage(id=self.message_id, status=status, content=content)

    def function_call(
        self, call_id: str | None, name: str, arguments: str, *, done: bool = True
    ) -> FunctionCallItem:
        """An item for a call the model made (`call_id` made up when the model gave none)."""
        return FunctionCallItem(
            id=f"fc_{uuid.uuid4().hex}",
            call_id=call_id or f"call_{uuid.uuid4().hex}",
            name=name,
            arguments=arguments,
            status="completed" if done else "in_progress",
        )

    def output(
        self, message: OutputMessage | None, calls: Sequence[FunctionCallItem] = ()
    ) -> list[OutputItem]:
        """The items in order: the file search, the message (none when the model only
        called functions), the function calls."""
        items: list[OutputItem] = [self.search_call()] if self.searched else []
        if message is not None:
            items.append(message)
        return [*items, *calls]

    def completed(self, completion: ChatCompletion) -> ResponseObject:
        """The response to a whole (non-streamed) answer."""
        choice = completion.choices[0] if completion.choices else None
        text = (choice.message.content or "") if choice else ""
        annotations = annotations_of(choice.message.model_extra) if choice else []
        finish = choice.finish_reason if choice else None
        calls = [self._call_of(c) for c in (choice.message.tool_calls or [])] if choice else []
        message = self.message(text, annotations, finish) if text or not calls else None
        return self.response(
            "completed", self.output(message, calls), usage=completion.usage, finish_reason=finish
        )

    def _call_of(self, call: ToolCall) -> FunctionCallItem:
        function = call.function
        name = (function.name if function else None) or ""
        return self.function_call(call.id, name, (function.arguments if function else "") or "")


def _usage(usage: Usage | None) -> ResponseUsage | None:
    if usage is None:
        return None
    return ResponseUsage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )
