"""Conversation items: what a conversation keeps of a request's input and a response's
output, and the chat messages a conversation's items are as the next response's context."""

from __future__ import annotations

import uuid
from typing import Any

from mmstack.api.routes.openai.responses_request import items_as_messages
from mmstack.api.routes.openai.schemas.responses import InputItem, ResponseObject

_ID_PREFIXES = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "mcp_approval_response": "mcpa_",
    "mcp_call": "mcp_",
}


def new_items(items: str | list[InputItem], *, where: str) -> list[dict[str, Any]]:
    """Input items as a conversation keeps them, each with a new id; invalid ones are a
    400 naming them (`where`: "items" gives items[2])."""
    if isinstance(items, str):
        items = [InputItem(type="message", role="user", content=items)]
    items_as_messages(items, where=where)
    return [_kept(item) for item in items]


def _kept(item: InputItem) -> dict[str, Any]:
    body = item.model_dump(mode="json", exclude_none=True)
    body["id"] = f"{_ID_PREFIXES.get(item.type, 'item_')}{uuid.uuid4().hex}"
    body["status"] = "completed"
    if item.type == "message":
        body["content"] = _content(item)
    return body


def _content(item: InputItem) -> list[dict[str, Any]]:
    """A message's content as parts (text as `input_text`, an assistant's as `output_text`)."""
    if isinstance(item.content, list):
        return [part.model_dump(mode="json", exclude_none=True) for part in item.content]
    if item.role == "assistant":
        return [{"type": "output_text", "text": item.content or "", "annotations": []}]
    return [{"type": "input_text", "text": item.content or ""}]


def output_items(response: ResponseObject) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in response.output]


def context_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kept items (a conversation's, a response's output) as chat messages."""
    kept = [InputItem.model_validate(item) for item in items]
    return [_plain(m) for m in items_as_messages(kept, where="conversation.items")]


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    """A message whose parts are all text, with its text as its content (as a message
    sent as a string was: kept items always hold parts)."""
    content = message.get("content")
    if isinstance(content, list) and all(part["type"] == "text" for part in content):
        return {**message, "content": "".join(part["text"] for part in content)}
    return message
