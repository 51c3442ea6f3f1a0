"""Remote MCP servers that a Responses `mcp` tool names: only those on the admin's
allow-list (`tools.mcp_servers`), reached over streamable HTTP with the official SDK's
client, their tools listed and called, each step within a timeout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from mmstack.errors import MMStackError


class McpServerError(MMStackError):
    """A remote MCP server that could not be reached, initialised or listed (HTTP 424, as
    OpenAI answers: the request was fine, a dependency it names failed)."""

    code = "mcp_server_error"
    status_code: ClassVar[int] = 424


@dataclass(frozen=True, slots=True)
class RemoteTool:
    name: str
    description: str | None
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """A tool's text output, or the error (in the Responses API's `mcp_call.error` shape)."""

    output: str | None
    error: dict[str, Any] | None = None


def _normal(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def is_allowed(url: str, allow_list: Sequence[str]) -> bool:
    """Whether `url` is one of the allowed servers (scheme and host in any case, up to a
    trailing slash; nothing else is forgiven: another path is another server)."""
    return _normal(url) in {_normal(allowed) for allowed in allow_list}


class RemoteMcp:
    """An initialised session with one server, for the length of one response."""

    def __init__(self, label: str, session: ClientSession, timeout: float) -> None:
        self.label = label
        self._session = session
        self._timeout = timeout

    async def tools(self) -> list[RemoteTool]:
        try:
            with anyio.fail_after(self._timeout):
                listed = await self._session.list_tools()
        except Exception as exc:
            raise McpServerError(
                f"MCP server '{self.label}' did not list its tools: {_reason(exc)}",
                param="tools",
            ) from None
        return [
            RemoteTool(
                tool.name,
                tool.description,
                dict(tool.input_schema),
                tool.annotations.model_dump(exclude_none=True) if tool.annotations else None,
            )
            for tool in listed.tools
        ]

    async def call(self, name: str, arguments: str) -> CallOutcome:
        """Run the tool with `arguments` (JSON text, as the model wrote them); a failure is
        the call's error, for the model to read, never the response's."""
        try:
            parsed = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            return CallOutcome(None, _protocol_error(f"arguments are not JSON: {exc}"))
        if not isinstance(parsed, dict):
            return CallOutcome(None, _protocol_error("arguments are not a JSON object"))
        try:
            with anyio.fail_after(self._timeout):
                result = await self._session.call_tool(name, parsed)
        except Exception as exc:
            return CallOutcome(None, _protocol_error(_reason(exc)))
        texts = [part.text for part in result.content if isinstance(part, TextContent)]
        if not texts and result.structured_content is not None:
            texts = [json.dumps(result.structured_content)]
        if result.is_error:
            content = [{"type": "text", "text": text} for text in texts]
            return CallOutcome(None, {"type": "mcp_tool_execution_error", "content": content})
        return CallOutcome("\n".join(texts))


def _protocol_error(message: str) -> dict[str, Any]:
    return {"type": "mcp_protocol_error", "code": -32603, "message": message}


def _reason(exc: BaseException) -> str:
    """What went wrong, from an exception or the first of a group's (anyio's task groups
    wrap a transport's failures)."""
    exc = _first(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


@asynccontextmanager
async def connect(
    label: str, url: str, *, headers: dict[str, str], timeout: float
) -> AsyncIterator[RemoteMcp]:
    """An initialised session with the server at `url`; McpServerError when it cannot be
    reached or does not speak MCP. What the caller raises while using it goes through as
    it is (unwrapped from the transport's task group)."""
    opened = False
    try:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            with anyio.fail_after(timeout):
                await session.initialize()
            opened = True
            yield RemoteMcp(label, session, timeout)
    except Exception as exc:
        inner = _first(exc)
        if opened or isinstance(inner, MMStackError):
            raise inner from None
        raise McpServerError(
            f"MCP server '{label}' at {url} could not be reached: {_reason(exc)}",
            param="tools",
        ) from None


def _first(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
