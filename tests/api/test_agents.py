"""Stored agents: `/api/agents` kept per team, and each called by name through the Responses
API (`model: agent/<name>`, the official `openai` client) on the fake upstream's models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from tests.api.live_server import LiveServer, serve, team_key
from tests.api.openai.conftest import upstream_settings
from tests.llm.fake_upstream import FakeUpstream

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream
) -> Iterator[LiveServer]:
    settings = upstream_settings(tmp_path_factory.mktemp("agents"), fake_upstream.base_url)
    with serve(settings) as live:
        yield live


def _api(server: LiveServer) -> str:
    return server.base_url.removesuffix("/v1") + "/api/agents"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_agent_is_kept_changed_and_deleted(server: LiveServer) -> None:
    url, headers = _api(server), server.headers
    made = httpx.post(
        url,
        headers=headers,
        json={
            "name": "forecaster",
            "description": "Tells the weather",
            "instructions": "Answer in one sentence.",
            "model": "echo",
            "tools": [WEATHER],
        },
    )
    assert made.status_code == 201, made.text
    agent = made.json()
    assert agent["id"].startswith("agent_")
    assert (agent["model_name"], agent["tools"]) == ("agent/forecaster", [WEATHER])
    assert httpx.get(f"{url}/forecaster", headers=headers).json() == agent
    assert httpx.get(f"{url}/{agent['id']}", headers=headers).json()["name"] == "forecaster"

    twice = httpx.post(url, headers=headers, json={"name": "forecaster"})
    assert twice.status_code == 409
    renamed = httpx.put(
        f"{url}/forecaster", headers=headers, json={"name": "weatherman", "model": "echo"}
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["tools"]) == ("weatherman", [])
    listed = httpx.get(url, headers=headers).json()["data"]
    assert [a["name"] for a in listed] == ["weatherman"]

    assert httpx.delete(f"{url}/weatherman", headers=headers).status_code == 204
    gone = httpx.get(f"{url}/weatherman", headers=headers)
    assert (gone.status_code, gone.json()["error"]["param"]) == (404, "agent")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
        (
            {"tools": [{"type": "mcp", "server_label": "x", "server_url": "http://127.0.0.1:9/"}]},
            "tools[0].server_url",
        ),
        (
            {
                "vector_store_ids": ["vs_1"],
                "tools": [{"type": "file_search", "vector_store_ids": ["vs_2"]}],
            },
            "vector_store_ids",
        ),
        ({"vector_store_ids": ["vs_1"], "tools": [WEATHER]}, "tools"),
        ({"name": "has space"}, "name"),
    ],
)
def test_bad_agents_are_refused(server: LiveServer, fields: dict[str, Any], param: str) -> None:
    answer = httpx.post(_api(server), headers=server.headers, json={"name": "bad", **fields})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param
    assert httpx.get(f"{_api(server)}/bad", headers=server.headers).status_code == 404


def test_an_agent_answers_by_name(server: LiveServer, fake_upstream: FakeUpstream) -> None:
    url, headers = _api(server), server.headers
    httpx.post(
        url,
        headers=headers,
        json={"name": "brief", "instructions": "Be brief.", "model": "echo"},
    ).raise_for_status()
    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    response = client.responses.create(
        model="agent/brief", input="What is new?", instructions="Answer in French."
    )
    assert response.model == "agent/brief"
    assert response.output_text == "echo: What is new?"
    sent = fake_upstream.bodies[-1]
    assert sent["model"] == "echo"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief.\n\nAnswer in French."}
    # The next turn, by previous_response_id, is the agent's too.
    client.responses.create(model="agent/brief", input="More?", previous_response_id=response.id)
    assert [m["content"] for m in fake_upstream.bodies[-1]["messages"]] == [
        "Be brief.",
        "What is new?",
        "echo: What is new?",
        "More?",
    ]

    # Its function tools, with the request's own.
    httpx.post(
        url, headers=headers, json={"name": "caller", "model": "tools", "tools": [WEATHER]}
    ).raise_for_status()
    called: Any = client.responses.create(model="agent/caller", input="Weather in Paris?")
    assert [(item.type, item.name) for item in called.output] == [("function_call", "get_weather")]
    # With memory on, the caller's memories are recalled into its instructions.
    memories = server.base_url.removesuffix("/v1") + "/api/memories"
    httpx.post(memories, headers=headers, json={"text": "I am allergic to peanuts."})
    made = httpx.post(
        url,
        headers=headers,
        json={"name": "cook", "model": "echo", "instructions": "Suggest one dish.", "memory": True},
    )
    assert made.json()["memory"] is True
    client.responses.create(model="agent/cook", input="What should I cook tonight?")
    sent = next(b for b in reversed(fake_upstream.bodies) if "response_format" not in b)
    assert sent["messages"][0]["content"].startswith("Suggest one dish.\n\nWhat the user told")
    assert "- I am allergic to peanuts." in sent["messages"][0]["content"]
    # Its vector stores become a file_search tool (this one does not exist).
    httpx.post(
        url, headers=headers, json={"name": "reader", "vector_store_ids": ["vs_missing"]}
    ).raise_for_status()
    with pytest.raises(openai.NotFoundError, match="vs_missing"):
        client.responses.create(model="agent/reader", input="What do the files say?")
    with pytest.raises(openai.NotFoundError) as unknown:
        client.responses.create(model="agent/nobody", input="hi")
    assert unknown.value.body["param"] == "model"  # type: ignore[index]


def test_agents_are_the_teams_own(server: LiveServer) -> None:
    stack = server.stack
    red = _bearer(team_key(stack, "agent-red", "agent-red-team"))
    blue = _bearer(team_key(stack, "agent-blue", "agent-blue-team"))
    url = _api(server)
    made = httpx.post(url, headers=red, json={"name": "secretary", "model": "echo"})
    assert made.status_code == 201
    assert httpx.get(url, headers=blue).json()["data"] == []
    for method in ("GET", "DELETE"):
        assert httpx.request(method, f"{url}/secretary", headers=blue).status_code == 404
    hijack = httpx.post(
        f"{server.base_url}/responses",
        headers=blue,
        json={"model": "agent/secretary", "input": "hi"},
    )
    assert hijack.status_code == 404
    # Blue may have its own of the same name.
    assert httpx.post(url, headers=blue, json={"name": "secretary"}).status_code == 201

    # A viewer reads and calls agents, and changes none.
    stack.auth.accounts.create_user("agent-viewer", role=Role.VIEWER, actor=Actor.local())
    _, token = stack.auth.keys.create("agent-viewer", name="k", actor=Actor.local(), access="read")
    viewer = _bearer(token)
    assert httpx.get(url, headers=viewer).status_code == 200
    assert httpx.post(url, headers=viewer, json={"name": "mine"}).status_code == 403
