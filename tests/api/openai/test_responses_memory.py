"""The `memory` tool of `/v1/responses` on the fake upstream: the caller's memories closest
to the input recalled into the instructions, what the user says noted after the answer
(the fake notes the message as it is), each person's alone, nothing when memory is off."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai

from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from tests.api.live_server import LiveServer
from tests.llm.fake_upstream import FakeUpstream

MEMORY: Any = {"type": "memory"}


def _key(server: LiveServer, username: str) -> str:
    server.stack.auth.accounts.create_user(username, role=Role.DEVELOPER, actor=Actor.local())
    return server.stack.auth.keys.create(username, name="k", actor=Actor.local())[1]


def _memories(server: LiveServer, key: str) -> list[dict[str, Any]]:
    url = server.base_url.removesuffix("/v1") + "/api/memories"
    found: list[dict[str, Any]] = httpx.get(url, headers={"Authorization": f"Bearer {key}"}).json()[
        "data"
    ]
    return found


def _noted(server: LiveServer, key: str, count: int) -> list[dict[str, Any]]:
    """The memories, once there are `count` of them (noting runs after the answer)."""
    deadline = time.monotonic() + 30
    while len(found := _memories(server, key)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    return found


def test_memories_are_noted_then_recalled_for_their_person_only(
    upstream_server: LiveServer, fake_upstream: FakeUpstream
) -> None:
    ana_key, ben_key = _key(upstream_server, "mem-ana"), _key(upstream_server, "mem-ben")
    ana = openai.OpenAI(base_url=upstream_server.base_url, api_key=ana_key, max_retries=0)
    ben = openai.OpenAI(base_url=upstream_server.base_url, api_key=ben_key, max_retries=0)

    first = ana.responses.create(model="echo", input="I live in Lyon.", tools=[MEMORY])
    assert first.output_text == "echo: I live in Lyon."
    [noted] = _noted(upstream_server, ana_key, 1)
    assert (noted["text"], noted["source"]) == ("I live in Lyon.", first.id)
    with ana.responses.stream(model="echo", input="I drink green tea.", tools=[MEMORY]) as s:
        s.get_final_response()
    _noted(upstream_server, ana_key, 2)

    # A later conversation recalls them (after the instructions), not the tool itself.
    ana.responses.create(
        model="echo", input="Where should I go for tea?", instructions="Be brief.", tools=[MEMORY]
    )
    asked = next(b for b in reversed(fake_upstream.bodies) if "response_format" not in b)
    system = asked["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("Be brief.\n\nWhat the user told you")
    assert "- I live in Lyon." in system["content"]
    assert "- I drink green tea." in system["content"]
    assert "tools" not in asked

    # Ben's answers never hold Ana's memories, and Ana's noting never reaches Ben.
    ben.responses.create(model="echo", input="I live in Oslo.", tools=[MEMORY])
    asked = next(b for b in reversed(fake_upstream.bodies) if "response_format" not in b)
    assert all("Lyon" not in str(m["content"]) for m in asked["messages"])
    _noted(upstream_server, ben_key, 1)
    assert [m["text"] for m in _memories(upstream_server, ben_key)] == ["I live in Oslo."]
    ben.responses.create(model="echo", input="Where do I live?", tools=[MEMORY])
    asked = next(b for b in reversed(fake_upstream.bodies) if "response_format" not in b)
    assert "- I live in Oslo." in asked["messages"][0]["content"]

    # Without the tool, nothing is recalled or noted.
    ana.responses.create(model="echo", input="I have a cat.")
    assert fake_upstream.bodies[-1]["messages"] == [{"role": "user", "content": "I have a cat."}]

    # Off: nothing recalled, nothing noted, what is kept stays.
    url = upstream_server.base_url.removesuffix("/v1") + "/api/memory"
    off = httpx.put(url, json={"enabled": False}, headers={"Authorization": f"Bearer {ana_key}"})
    assert off.json() == {"enabled": False}
    calls = len(fake_upstream.bodies)
    ana.responses.create(model="echo", input="I moved to Porto.", tools=[MEMORY])
    time.sleep(0.5)
    assert len(fake_upstream.bodies) == calls + 1  # the answer alone: no noting
    assert fake_upstream.bodies[-1]["messages"] == [
        {"role": "user", "content": "I moved to Porto."}
    ]
    # Lyon and tea: a question is not noted (the fake copies it as a note: it is dropped).
    assert [m["text"] for m in _memories(upstream_server, ana_key)] == [
        "I drink green tea.",
        "I live in Lyon.",
    ]


def test_memory_is_refused_with_file_search(upstream_server: LiveServer) -> None:
    body = {
        "model": "echo",
        "input": "hi",
        "tools": [MEMORY, {"type": "file_search", "vector_store_ids": ["vs_x"]}],
    }
    answer = httpx.post(
        f"{upstream_server.base_url}/responses", json=body, headers=upstream_server.headers
    )
    assert answer.status_code == 400
    assert "memory" in answer.json()["error"]["message"]
    bad = dict(body, tools=[{"type": "memory", "extra": 1}])
    answer = httpx.post(
        f"{upstream_server.base_url}/responses", json=bad, headers=upstream_server.headers
    )
    assert (answer.status_code, answer.json()["error"]["param"]) == (400, "tools[0].extra")
