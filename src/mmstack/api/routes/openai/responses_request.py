"""A Responses API request as a chat-completions request, and its retrieval scope."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from mmstack.api.routes.openai.schemas.responses import (
    FileSearchTool,
    InputItem,
    InputPart,
    ResponsesRequest,
)
from mmstack.errors import InvalidRequestError
from mmstack.index.attribute_filter import parse_filter
from mmstack.llm.grounding import RetrievalScope
from mmstack.llm.types import ChatCompletionRequest

_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "refusal"})


def chat_request(
    body: ResponsesRequest, history: list[dict[str, Any]] | None = None
) -> ChatCompletionRequest:
    """The request as chat completions take it: `instructions` as the system message, then
    `history` (the conversation of `previous_response_id`), then the input."""
    messages: list[dict[str, Any]] = []
    if body.instructions:
        messages.append({"role": "system", "content": body.instructions})
    messages += [*(history or ()), *input_messages(body)]
    fields: dict[str, Any] = {"model": body.model, "messages": messages, "stream": body.stream}
    if body.stream:
        fields["stream_options"] = {"include_usage": True}
    optional = {
        "max_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "user": body.user,
        "response_format": _response_format(body.text),
    }
    fields.update({name: value for name, value in optional.items() if value is not None})
    try:
        return ChatCompletionRequest.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(f"input: {exc.errors()[0]['msg']}", param="input") from None


def retrieval_scope(body: ResponsesRequest) -> RetrievalScope | None:
    """The `file_search` tool's scope; None without one, or when `tool_choice` is `none`."""
    searches: list[FileSearchTool] = []
    for n, tool in enumerate(body.tools):
        if tool.get("type") != "file_search":
            raise InvalidRequestError(
                f"tools[{n}]: tool type '{tool.get('type')}' is not supported; "
                "mmstack's Responses API serves the file_search tool only",
                param=f"tools[{n}].type",
            )
        try:
            searches.append(FileSearchTool.model_validate(tool))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise InvalidRequestError(
                f"tools[{n}].{where}: {error['msg']}", param=f"tools[{n}].{where}"
            ) from None
    if len(searches) > 1:
        raise InvalidRequestError("give at most one file_search tool", param="tools")
    if not searches or body.tool_choice == "none":
        return None
    search = searches[0]
    flt = None
    if search.filters is not None:
        try:
            flt = parse_filter(search.filters, where="tools[0].filters")
        except ValueError as exc:
            raise InvalidRequestError(str(exc), param="tools[0].filters") from None
    return RetrievalScope(search.vector_store_ids, search.max_num_results, flt)


def input_messages(body: ResponsesRequest) -> list[dict[str, Any]]:
    """The request's input as chat messages (what a stored response adds to its
    conversation, with the answer)."""
    if isinstance(body.input, str):
        return [{"role": "user", "content": body.input}]
    return [_message(item, n) for n, item in enumerate(body.input)]


def search_query(request: ChatCompletionRequest) -> str:
    """What file_search looks for, as the response reports it: the last user message."""
    asked = [message.text() for message in request.messages if message.role == "user"]
    return asked[-1] if asked else ""


def _message(item: InputItem, n: int) -> dict[str, Any]:
    if item.type != "message" or item.role is None:
        raise InvalidRequestError(
            f"input[{n}]: items of type '{item.type}' are not supported; send messages "
            "with a role and content",
            param=f"input[{n}]",
        )
    if item.content is None or isinstance(item.content, str):
        return {"role": item.role, "content": item.content or ""}
    return {
        "role": item.role,
        "content": [_part(part, f"input[{n}].content[{m}]") for m, part in enumerate(item.content)],
    }


def _part(part: InputPart, where: str) -> dict[str, Any]:
    if part.type in _TEXT_PARTS:
        return {"type": "text", "text": part.text or ""}
    if part.type == "input_image" and part.image_url:
        image: dict[str, Any] = {"url": part.image_url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if part.type == "input_image":
        detail = "images by file_id are not supported; send image_url (a URL or data URL)"
    elif part.type == "input_file":
        detail = "input_file is not supported; add the file to a vector store, use file_search"
    else:
        detail = f"content parts of type '{part.type}' are not supported"
    raise InvalidRequestError(f"{where}: {detail}", param=where)


def _response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Responses API's `text.format` in chat completions' `response_format` shape."""
    spec = (text or {}).get("format")
    if not isinstance(spec, dict) or spec.get("type") in (None, "text"):
        return None
    if spec.get("type") == "json_schema":
        keys = ("name", "schema", "strict", "description")
        schema = {key: spec[key] for key in keys if key in spec}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": spec["type"]}
