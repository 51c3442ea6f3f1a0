"""mmstack's MCP server at /mcp, driven by the official `mcp` SDK's client over streamable
HTTP against a live server on the bundled 0.5B model: the tools and resources listed,
search, ask (a grounded answer with its sources) and ingest called, every result scoped to
the key's team, a key's scopes enforced, and a request without a key refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.api.live_server import LiveServer, team_key
from tests.mcp_config import documented_config

T = TypeVar("T")
HANDBOOK = b"""# Night shift

The night shift hands over to the day shift at 06:30 in room B12.
"""
OTHER = b"The blue team's launch code name is Heron."


def _mcp_url(server: LiveServer) -> str:
    return server.base_url.removesuffix("/v1") + "/mcp"


def _session(server: LiveServer, key: str, work: Callable[[ClientSession], Awaitable[T]]) -> T:
    async def run() -> T:
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=180) as http,
            streamable_http_client(_mcp_url(server), http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await work(session)

    return asyncio.run(run())


def _structured(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content["result"]


@pytest.fixture(scope="module")
def keys(embedded_server: LiveServer) -> dict[str, str]:
    """Red's developer with the handbook; blue's, in another team, with a note of its own."""
    stack = embedded_server.stack
    red = team_key(stack, "mcp-red", "mcp-red-team")
    blue = team_key(stack, "mcp-blue", "mcp-blue-team")

    for key, name, filename, data in (
        (red, "handbook", "night.md", HANDBOOK),
        (blue, "launch", "launch.txt", OTHER),
    ):
        principal = stack.auth.authenticate(f"Bearer {key}")
        made = stack.collections.for_owner(principal.owner).create(name=name)
        stack.intake.add_file(made.id, filename, data)
    stack.worker.run_until_idle()  # this server runs no worker threads
    return {"red": red, "blue": blue}


def test_tools_and_resources_are_listed_for_the_caller(
    embedded_server: LiveServer, keys: dict[str, str]
) -> None:
    async def listing(session: ClientSession) -> tuple[list[str], list[Any]]:
        tools = [t.name for t in (await session.list_tools()).tools]
        return tools, (await session.list_resources()).resources

    tools, resources = _session(embedded_server, keys["red"], listing)
    assert sorted(tools) == ["ask", "ingest", "list_collections", "search"]
    assert [r.name for r in resources] == ["handbook"]  # red's alone
    uri = str(resources[0].uri)

    async def read(session: ClientSession) -> Any:
        return (await session.read_resource(uri)).contents[0]

    content = _session(embedded_server, keys["red"], read)
    described = json.loads(content.text)
    assert described["name"] == "handbook"
    assert [(f["filename"], f["status"]) for f in described["files"]] == [("night.md", "completed")]

    async def read_as_blue(session: ClientSession) -> Any:
        try:
            await session.read_resource(uri)
        except Exception as exc:  # the SDK raises the server's error
            return str(exc)
        return None

    refused = _session(embedded_server, keys["blue"], read_as_blue)
    assert refused is not None
    assert "not found" in refused


def test_search_and_ask_find_only_the_teams_documents(
    embedded_server: LiveServer, keys: dict[str, str]
) -> None:
    async def search(session: ClientSession) -> Any:
        return _structured(
            await session.call_tool("search", {"query": "when does the night shift hand over"})
        )

    found = _session(embedded_server, keys["red"], search)
    assert found[0]["filename"] == "night.md"
    assert "06:30" in found[0]["text"]
    assert found[0]["collection"] == "handbook"
    assert all(hit["filename"] != "launch.txt" for hit in found)

    async def search_launch(session: ClientSession) -> Any:
        return _structured(await session.call_tool("search", {"query": "launch code name Heron"}))

    red_found = _session(embedded_server, keys["red"], search_launch)
    assert red_found  # it searched, and found red's own file only
    assert all(h["filename"] == "night.md" for h in red_found)
    assert _session(embedded_server, keys["blue"], search_launch)[0]["filename"] == "launch.txt"

    async def ask(session: ClientSession) -> Any:
        result = await session.call_tool(
            "ask", {"question": "At what time does the night shift hand over to the day shift?"}
        )
        assert not result.is_error, result.content
        return result.structured_content

    answered = _session(embedded_server, keys["red"], ask)
    assert "06:30" in answered["answer"]
    assert not answered["refused"]
    assert answered["sources"][0]["filename"] == "night.md"
    assert "06:30" in answered["sources"][0]["quote"]

    async def ask_elsewhere(session: ClientSession) -> Any:
        return await session.call_tool(
            "ask", {"question": "What is it?", "collections": ["handbook"]}
        )

    refused = _session(embedded_server, keys["blue"], ask_elsewhere)
    assert refused.is_error
    assert "not found" in refused.content[0].text


def test_ingest_adds_a_file_that_search_then_finds(
    embedded_server: LiveServer, keys: dict[str, str]
) -> None:
    text = "The boiler room key hangs in the red cabinet beside the lift."

    async def ingest(session: ClientSession) -> Any:
        return await session.call_tool(
            "ingest", {"collection": "handbook", "filename": "keys.txt", "text": text}
        )

    added = _session(embedded_server, keys["red"], ingest)
    assert not added.is_error, added.content
    assert added.structured_content["duplicate"] is False
    assert added.structured_content["status"] == "queued"
    again = _session(embedded_server, keys["red"], ingest)
    assert again.structured_content["duplicate"] is True  # the same bytes: one file
    embedded_server.stack.worker.run_until_idle()

    async def search(session: ClientSession) -> Any:
        return _structured(await session.call_tool("search", {"query": "boiler room key"}))

    assert _session(embedded_server, keys["red"], search)[0]["filename"] == "keys.txt"

    async def bad(session: ClientSession) -> list[Any]:
        return [
            await session.call_tool("ingest", {"collection": "handbook", "filename": "x.txt"}),
            await session.call_tool(
                "ingest",
                {"collection": "handbook", "filename": "x.bin", "content_base64": "***"},
            ),
            await session.call_tool(
                "ingest", {"collection": "launch", "filename": "x.txt", "text": "mine"}
            ),
        ]

    neither, garbled, elsewhere = _session(embedded_server, keys["red"], bad)
    assert neither.is_error
    assert "either text or content_base64" in neither.content[0].text
    assert garbled.is_error
    assert "not base64" in garbled.content[0].text
    assert elsewhere.is_error
    assert "not found" in elsewhere.content[0].text


def test_a_keys_scopes_hold(embedded_server: LiveServer, keys: dict[str, str]) -> None:
    stack = embedded_server.stack
    reader = team_key(stack, "mcp-red", "mcp-red-team", access="read")
    search_only = team_key(stack, "mcp-red", "mcp-red-team", endpoints=["search"])

    async def write(session: ClientSession) -> Any:
        return await session.call_tool(
            "ingest", {"collection": "handbook", "filename": "r.txt", "text": "read-only"}
        )

    refused = _session(embedded_server, reader, write)
    assert refused.is_error
    assert "does not allow 'write'" in refused.content[0].text

    async def both(session: ClientSession) -> tuple[Any, Any]:
        searched = await session.call_tool("search", {"query": "night shift"})
        asked = await session.call_tool("ask", {"question": "When is the hand-over?"})
        return searched, asked

    searched, asked = _session(embedded_server, search_only, both)
    assert not searched.is_error
    assert asked.is_error
    assert "'chat' endpoints" in asked.content[0].text


def test_a_request_without_a_valid_key_is_refused(embedded_server: LiveServer) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    for authorization in (None, "Bearer mmk_nope_nope"):
        sent = dict(headers)
        if authorization:
            sent["Authorization"] = authorization
        response = httpx2.post(_mcp_url(embedded_server), json=initialize, headers=sent)
        assert response.status_code == 401, response.text
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    ok = httpx2.post(
        _mcp_url(embedded_server),
        json=initialize,
        headers={**headers, "Authorization": f"Bearer {embedded_server.api_key}"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"]["serverInfo"]["name"] == "mmstack"


def test_the_documented_http_configuration_connects(
    embedded_server: LiveServer, keys: dict[str, str]
) -> None:
    entry = documented_config("mcp-http-config")
    assert entry["type"] == "http"
    port = urlsplit(_mcp_url(embedded_server)).port
    url = entry["url"].replace(":8000/", f":{port}/")
    headers = {k: v.replace("mmk_...", keys["red"]) for k, v in entry["headers"].items()}

    async def run() -> list[str]:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return [r.name for r in (await session.list_resources()).resources]

    assert asyncio.run(run()) == ["handbook"]
