"""mmstack as a Model Context Protocol server (the official `mcp` SDK): tools `search`, `ask`,
`ingest` and `list_collections`, and each collection as a resource
(`mmstack://collections/{id}`). The same server runs over streamable HTTP inside the API
(`/mcp`, see `mmstack.api.mcp_endpoint`) and over stdio (`mmstack mcp`).

Every call acts for the caller whose `Toolbox` the transport set in `current_toolbox`: the
HTTP endpoint per request (from its API key), stdio once for the process."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

from anyio import to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import Resource
from pydantic import Field

from mmstack import __version__
from mmstack.errors import MMStackError
from mmstack.index.search import SearchMode
from mmstack.tools.toolbox import Toolbox, tool_answer

current_toolbox: ContextVar[Toolbox | None] = ContextVar("mmstack_toolbox", default=None)
COLLECTION_URI = "mmstack://collections/{collection_id}"
INSTRUCTIONS = (
    "mmstack holds the caller's documents, pictures, recordings and videos in collections. "
    "Use `search` to find passages (each names its file and page or second), `ask` for an "
    "answer written from them with [n] citations, `ingest` to add a text or file to a "
    "collection, and `list_collections` to see what there is."
)
T = TypeVar("T")


def _toolbox() -> Toolbox:
    toolbox = current_toolbox.get()
    if toolbox is None:  # a transport that set no caller: nothing may be served
        raise ToolError("no caller: the request was not authenticated")
    return toolbox


@contextmanager
def _as_tool_error() -> Iterator[None]:
    """mmstack's errors (not found, not allowed, bad input) as the tool's error result,
    with their message; anything else is the SDK's unexpected error."""
    try:
        yield
    except MMStackError as exc:
        raise ToolError(exc.message) from None


def _call(work: Callable[[Toolbox], T]) -> T:
    with _as_tool_error():
        return work(_toolbox())


class MmstackMcp(MCPServer):
    async def list_resources(self) -> list[Resource]:
        """The caller's collections (the SDK's own list is static)."""
        toolbox = current_toolbox.get()
        if toolbox is None:
            return []
        try:
            found = await to_thread.run_sync(toolbox.collections)
        except MMStackError:  # a key not allowed to read collections lists none
            return []
        return [
            Resource(
                uri=COLLECTION_URI.format(collection_id=c.id),
                name=c.name,
                description=c.description or f"{c.files} files, {c.chunks} passages",
                mime_type="application/json",
            )
            for c in found
        ]


def build_server() -> MmstackMcp:
    server = MmstackMcp("mmstack", version=__version__, instructions=INSTRUCTIONS)

    @server.tool()
    def search(
        query: Annotated[str, Field(min_length=1, description="What to look for")],
        collections: Annotated[
            list[str] | None, Field(description="Collection ids or names; default: all")
        ] = None,
        top_k: Annotated[int, Field(ge=1, le=50, description="How many passages")] = 8,
        mode: Annotated[
            SearchMode | None, Field(description="How to match; default: hybrid")
        ] = None,
    ) -> list[dict[str, Any]]:
        """Search the caller's collections: the best matching passages, best first, each with
        its file, collection, page or seconds, and text."""
        return _call(lambda t: t.search(query, collections=collections, top_k=top_k, mode=mode))

    @server.tool()
    async def ask(
        question: Annotated[str, Field(min_length=1, description="The question")],
        collections: Annotated[
            list[str] | None, Field(description="Collection ids or names; default: all")
        ] = None,
    ) -> dict[str, Any]:
        """Answer a question from the caller's collections: the answer with [n] markers, and
        for each n the file, where in it, and the quoted text. When the documents do not
        hold the answer, it says so ("The documents do not say.") and `refused` is true."""
        toolbox = _toolbox()
        with _as_tool_error():
            answer = await toolbox.ask(question, collections=collections)
        return tool_answer(answer)

    @server.tool()
    def ingest(
        collection: Annotated[str, Field(description="Collection id or name")],
        filename: Annotated[
            str, Field(min_length=1, description="Its name; the extension gives its type")
        ],
        text: Annotated[str | None, Field(description="The content, as text")] = None,
        content_base64: Annotated[
            str | None, Field(description="The content, as base64 bytes (a PDF, a picture...)")
        ] = None,
        tags: Annotated[list[str] | None, Field(description="Tags for the file")] = None,
    ) -> dict[str, Any]:
        """Add a file to a collection (give `text` or `content_base64`) and queue its
        ingestion; it is searchable once its status is completed. The same bytes twice
        are one file (`duplicate`)."""
        return _call(
            lambda t: t.ingest(
                collection, filename, text=text, content_base64=content_base64, tags=tags or ()
            )
        )

    @server.tool()
    def list_collections() -> list[dict[str, Any]]:
        """The caller's collections: id, name, description, files (and how many completed)
        and passages."""
        return _call(lambda t: [asdict(c) for c in t.collections()])

    @server.resource(COLLECTION_URI, mime_type="application/json")
    def collection(collection_id: str) -> str:
        """A collection and its files, each with its ingestion status."""
        try:
            return json.dumps(_toolbox().collection(collection_id))
        except (MMStackError, ToolError) as exc:
            raise ResourceError(getattr(exc, "message", str(exc))) from None

    return server
