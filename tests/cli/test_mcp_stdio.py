"""`mmstack mcp` as a local MCP client starts it: the official `mcp` SDK's stdio client runs
the command, lists its tools and resources and calls search and ingest, for the team of
the key it was given; without a key, or with a wrong one, the command says so and exits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from mmstack.config.settings import IngestSettings, Settings
from mmstack.stack import open_stack
from tests.mcp_config import documented_config

T = TypeVar("T")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A data directory with a collection for each of two teams, and a key of each."""
    data = tmp_path_factory.mktemp("mcp-stdio")
    keys = {}
    with open_stack(Settings(data_dir=data, ingest=IngestSettings(workers=0))) as stack:
        accounts = stack.auth.accounts
        for team, text in (("red", b"Room B12 hosts the hand-over at 06:30."), ("blue", b"Heron")):
            made = accounts.create_team(team, actor=Actor.local())
            accounts.create_user(
                f"{team}-dev", role=Role.DEVELOPER, team=made.id, actor=Actor.local()
            )
            _, keys[team] = stack.auth.keys.create(f"{team}-dev", name="k", actor=Actor.local())
            principal = stack.auth.authenticate(f"Bearer {keys[team]}")
            collection = stack.collections.for_owner(principal.owner).create(name=f"{team}-notes")
            stack.intake.add_file(collection.id, f"{team}.txt", text)
        stack.worker.run_until_idle()
    return data, keys


def _environment(key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    if key is not None:
        env["MMSTACK_API_KEY"] = key
    return env


def _session(data: Path, key: str, work: Callable[[ClientSession], Awaitable[T]]) -> T:
    """A session with `mmstack mcp` started as docs/MCP.md configures it: that page's
    command, arguments and environment, with this test's data directory and key."""
    entry = documented_config("mcp-stdio-config")
    assert entry["command"] == "mmstack"
    args = [str(data) if arg.endswith("/mmstack") else arg for arg in entry["args"]]
    env = {name: key if value == "mmk_..." else value for name, value in entry["env"].items()}
    command = StdioServerParameters(
        command=str(Path(sys.executable).with_name("mmstack")),  # this environment's
        args=args,
        env=_environment(None) | env,
    )

    async def run() -> T:
        async with stdio_client(command) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)

    return asyncio.run(run())


def test_a_stdio_client_uses_the_tools_for_its_keys_team(
    data_dir: tuple[Path, dict[str, str]],
) -> None:
    data, keys = data_dir

    async def red_work(session: ClientSession) -> tuple[Any, ...]:
        tools = sorted(t.name for t in (await session.list_tools()).tools)
        resources = [r.name for r in (await session.list_resources()).resources]
        found = await session.call_tool("search", {"query": "where is the hand-over"})
        added = await session.call_tool(
            "ingest", {"collection": "red-notes", "filename": "more.txt", "text": "Owls."}
        )
        return tools, resources, found, added

    tools, resources, found, added = _session(data, keys["red"], red_work)
    assert tools == ["ask", "ingest", "list_collections", "search"]
    assert resources == ["red-notes"]
    assert not found.is_error, found.content
    hits = found.structured_content["result"]
    assert [h["filename"] for h in hits] == ["red.txt"]
    assert not added.is_error, added.content
    assert added.structured_content["duplicate"] is False

    async def blue_work(session: ClientSession) -> tuple[Any, Any]:
        listed = await session.call_tool("list_collections", {})
        found = await session.call_tool("search", {"query": "where is the hand-over"})
        return listed, found

    listed, found = _session(data, keys["blue"], blue_work)
    assert [c["name"] for c in listed.structured_content["result"]] == ["blue-notes"]
    assert all(h["filename"] != "red.txt" for h in found.structured_content["result"])


@pytest.mark.parametrize("key", [None, "mmk_wrong_wrong"])
def test_without_a_valid_key_the_command_says_so(
    data_dir: tuple[Path, dict[str, str]], key: str | None
) -> None:
    data, _ = data_dir
    run = subprocess.run(
        [sys.executable, "-m", "mmstack", "--data-dir", str(data), "mcp"],
        env=_environment(key),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0
    assert run.stdout == ""  # nothing on the protocol's stream
    expected = "an API key is needed" if key is None else "the API key is not valid"
    assert expected in run.stderr, run.stderr
