"""A Responses API request as a chat-completions request (function tools and their calls
included), and its retrieval scope."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from mmstack.api.routes.openai.schemas.responses import (
    FileSearchTool,
    FunctionTool,
    InputItem,
    InputPart,
    McpTool,
    MemoryTool,
    ResponsesRequest,
)
from mmstack.errors import InvalidRequestError
from mmstack.index.attribute_filter import parse_filter
from mmstack.llm.grounding import RetrievalScope
from mmstack.llm.types import ChatCompletionRequest
from mmstack.tools.remote_mcp import is_allowed

_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "refusal"})
# Items kept as a record of what happened, not read by the model as messages.
_RECORDS = frozenset({"file_search_call", "mcp_list_tools", "mcp_approval_request"})


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
    functions = _tools(body)[1]
    if functions:
        fields["tools"] = [_chat_tool(tool) for tool in functions]
        fields["tool_choice"] = _chat_tool_choice(body.tool_choice)
        if (parallel := (body.model_extra or {}).get("parallel_tool_calls")) is not None:
            fields["parallel_tool_calls"] = parallel
    try:
        return ChatCompletionRequest.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(f"input: {exc.errors()[0]['msg']}", param="input") from None


def retrieval_scope(body: ResponsesRequest) -> RetrievalScope | None:
    """The `file_search` tool's scope; None without one, or when `tool_choice` is `none`."""
    searches, functions, servers = _tools(body)
    if len(searches) > 1:
        raise InvalidRequestError("give at most one file_search tool", param="tools")
    if searches and (functions or servers):
        raise InvalidRequestError(
            "file_search cannot be combined with function or mcp tools in one request: "
            "answers from vector stores are written by mmstack, not by the model's calls",
            param="tools",
        )
    if searches and any(tool.get("type") == "memory" for tool in body.tools):
        raise InvalidRequestError(
            "the memory tool cannot be combined with file_search yet: answers from vector "
            "stores are written from the passages alone",
            param="tools",
        )
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


def mcp_tools(body: ResponsesRequest, allowed_servers: list[str]) -> list[McpTool]:
    """The request's `mcp` tools, each naming a server on the allow-list."""
    servers = _tools(body)[2]
    labels = [server.server_label for server in servers]
    if len(set(labels)) < len(labels):
        raise InvalidRequestError("mcp tools need distinct server_label values", param="tools")
    positions = [n for n, tool in enumerate(body.tools) if tool.get("type") == "mcp"]
    for n, server in zip(positions, servers, strict=True):
        where = f"tools[{n}]"
        if server.connector_id is not None or not server.server_url:
            raise InvalidRequestError(
                f"{where}: give the MCP server's server_url (connectors are not served)",
                param=f"{where}.server_url",
            )
        if not is_allowed(server.server_url, allowed_servers):
            raise InvalidRequestError(
                f"{where}: MCP server '{server.server_url}' is not on this server's "
                "allow-list; an admin adds it to tools.mcp_servers",
                param=f"{where}.server_url",
            )
    return servers


def _tools(
    body: ResponsesRequest,
) -> tuple[list[FileSearchTool], list[FunctionTool], list[McpTool]]:
    searches: list[FileSearchTool] = []
    functions: list[FunctionTool] = []
    servers: list[McpTool] = []
    kinds: dict[str, Any] = {
        "file_search": FileSearchTool,
        "function": FunctionTool,
        "mcp": McpTool,
        "memory": MemoryTool,
    }
    for n, tool in enumerate(body.tools):
        kind = tool.get("type")
        if kind not in kinds:
            raise InvalidRequestError(
                f"tools[{n}]: tool type '{kind}' is not supported; mmstack's Responses API "
                "serves the file_search tool, function tools, mcp tools and the memory tool",
                param=f"tools[{n}].type",
            )
        try:
            parsed = kinds[kind].model_validate(tool)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise InvalidRequestError(
                f"tools[{n}].{where}: {error['msg']}", param=f"tools[{n}].{where}"
            ) from None
        if isinstance(parsed, FileSearchTool):
            searches.append(parsed)
        elif isinstance(parsed, FunctionTool):
            functions.append(parsed)
        elif isinstance(parsed, McpTool):
            servers.append(parsed)
    names = [f.name for f in functions]
    if len(set(names)) < len(names):
        raise InvalidRequestError("function tools need distinct names", param="tools")
    return searches, functions, servers


def _chat_tool(tool: FunctionTool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """`tool_choice` as chat completions take it."""
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise InvalidRequestError(
                "tool_choice is auto, none, required or {type: function, name}",
                param="tool_choice",
            )
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequestError(
        "tool_choice is auto, none, required or {type: function, name}", param="tool_choice"
    )


def input_messages(body: ResponsesRequest) -> list[dict[str, Any]]:
    """The request's input as chat messages (what a stored response adds to its
    conversation, with the answer)."""
    if isinstance(body.input, str):
        return [{"role": "user", "content": body.input}]
    return items_as_messages(body.input, where="input")


def items_as_messages(items: list[InputItem], *, where: str) -> list[dict[str, Any]]:
    """Responses items as chat messages: a function call joins the assistant turn before
    it; an MCP call mmstack made is a call with its output. Approval requests and their
    answers, tool listings and file searches are records, not messages. `where` names
    the items in errors ("input": input[3])."""
    messages: list[dict[str, Any]] = []

    def add_call(call: dict[str, Any]) -> None:
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":  # the same turn's calls
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})

    for n, item in enumerate(items):
        at = f"{where}[{n}]"
        if item.type == "function_call":
            add_call(_function_call(item, at))
        elif item.type == "function_call_output":
            messages.append(_function_output(item, at))
        elif item.type == "mcp_call":
            if not item.id or not item.name or item.arguments is None:
                raise InvalidRequestError(
                    f"{at}: an mcp_call needs id, name and arguments", param=at
                )
            add_call(chat_tool_call(item.id, item.name, item.arguments))
            messages.append({"role": "tool", "tool_call_id": item.id, "content": mcp_result(item)})
        elif item.type == "mcp_approval_response":
            if not item.approval_request_id or item.approve is None:
                raise InvalidRequestError(
                    f"{at}: an mcp_approval_response needs approval_request_id and approve",
                    param=at,
                )
        elif item.type not in _RECORDS:
            messages.append(_message(item, at))
    return messages


def mcp_result(item: InputItem) -> str:
    """What an MCP call gave the model to read: its output, or its error."""
    if isinstance(item.output, str):
        return item.output
    error = (item.model_extra or {}).get("error")
    return f"The tool failed: {json.dumps(error)}" if error else ""


def _function_call(item: InputItem, at: str) -> dict[str, Any]:
    if not item.call_id or not item.name or item.arguments is None:
        raise InvalidRequestError(
            f"{at}: a function_call needs call_id, name and arguments", param=at
        )
    return chat_tool_call(item.call_id, item.name, item.arguments)


def chat_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A function call as a chat message's `tool_calls` entry."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _function_output(item: InputItem, at: str) -> dict[str, Any]:
    if not item.call_id or item.output is None:
        raise InvalidRequestError(
            f"{at}: a function_call_output needs call_id and output", param=at
        )
    output = item.output
    if not isinstance(output, str):
        for m, part in enumerate(output):
            if part.type not in _TEXT_PARTS:
                raise InvalidRequestError(
                    f"{at}.output[{m}]: a function's output is text; '{part.type}' parts are "
                    "not supported",
                    param=f"{at}.output[{m}]",
                )
        output = "".join(part.text or "" for part in output)
    return {"role": "tool", "tool_call_id": item.call_id, "content": output}


def search_query(request: ChatCompletionRequest) -> str:
    """What file_search looks for, as the response reports it: the last user message."""
    asked = [message.text() for message in request.messages if message.role == "user"]
    return asked[-1] if asked else ""


def _message(item: InputItem, at: str) -> dict[str, Any]:
    if item.type != "message" or item.role is None:
        raise InvalidRequestError(
            f"{at}: items of type '{item.type}' are not supported; send messages "
            "with a role and content, function_call and function_call_output items",
            param=at,
        )
    if item.content is None or isinstance(item.content, str):
        return {"role": item.role, "content": item.content or ""}
    return {
        "role": item.role,
        "content": [_part(part, f"{at}.content[{m}]") for m, part in enumerate(item.content)],
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
