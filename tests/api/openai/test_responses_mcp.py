"""Remote MCP tools in `/v1/responses`: a real MCP server made here with the `mcp` SDK
(streamable HTTP on 127.0.0.1), allowed by `tools.mcp_servers`, called by mmstack in its
tool loop for the fake upstream's models (`agent` calls the first tool, then answers from
its result; `tools` never stops calling), driven by the official `openai` client."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from mmstack.config.settings import ToolSettings
from tests.api.live_server import LiveServer, serve
from tests.api.openai.conftest import upstream_settings
from tests.api.openai.weather_mcp import WeatherServer, serve_weather
from tests.llm.fake_upstream import FakeUpstream


@pytest.fixture(scope="module")
def weather() -> Iterator[WeatherServer]:
    with serve_weather() as server:
        yield server


@pytest.fixture(scope="module")
def agent_server(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream, weather: WeatherServer
) -> Iterator[LiveServer]:
    settings = upstream_settings(tmp_path_factory.mktemp("data"), fake_upstream.base_url)
    tools = ToolSettings(mcp_servers=[weather.url + "/"], max_steps=3, call_timeout_seconds=10)
    with serve(settings.model_copy(update={"tools": tools})) as server:
        yield server


@pytest.fixture(scope="module")
def client(agent_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=agent_server.base_url, api_key=agent_server.api_key, max_retries=0, timeout=60
    )


def _mcp(weather: WeatherServer, **options: Any) -> Any:
    return {"type": "mcp", "server_label": "weather", "server_url": weather.url, **options}


def test_the_loop_calls_the_tool_and_answers_from_it(
    client: openai.OpenAI, weather: WeatherServer, fake_upstream: FakeUpstream
) -> None:
    weather.calls.clear()
    response: Any = client.responses.create(
        model="agent",
        input="What is the weather in Paris?",
        tools=[_mcp(weather, require_approval="never", allowed_tools=["get_weather"])],
    )
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["mcp_list_tools", "mcp_call", "message"]
    listing, call, _ = response.output
    assert [tool.name for tool in listing.tools] == ["get_weather"]  # allowed_tools
    assert listing.tools[0].input_schema["properties"]["city"]["type"] == "string"
    assert (call.server_label, call.name, json.loads(call.arguments)) == (
        "weather",
        "get_weather",
        {"city": "Paris"},
    )
    assert call.output == "18 C and sunny in Paris"
    assert call.error is None
    assert response.output_text == "done: 18 C and sunny in Paris"
    assert weather.calls == ["Paris"]
    # The model saw the listed tool as a function, then the call and its result.
    last = fake_upstream.bodies[-1]
    assert [tool["function"]["name"] for tool in last["tools"]] == ["get_weather"]
    assert last["messages"][-2]["tool_calls"][0]["id"] == call.id
    assert last["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": "18 C and sunny in Paris",
    }
    assert response.usage is not None
    assert response.usage.total_tokens == 16  # two model calls, 8 tokens each

    # The next turn carries the call and its result.
    client.responses.create(model="echo", input="Thanks", previous_response_id=response.id)
    roles = [m["role"] for m in fake_upstream.bodies[-1]["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]


def test_approval_is_asked_then_given_by_the_next_request(
    client: openai.OpenAI, weather: WeatherServer
) -> None:
    weather.calls.clear()
    tools = [_mcp(weather, allowed_tools={"tool_names": ["get_forecast"]})]
    asked: Any = client.responses.create(model="agent", input="Rain this week?", tools=tools)
    assert [item.type for item in asked.output] == ["mcp_list_tools", "mcp_approval_request"]
    request = asked.output[1]
    assert (request.name, request.server_label) == ("get_forecast", "weather")
    assert weather.calls == []  # nothing called before the approval

    approve: Any = {
        "type": "mcp_approval_response",
        "approval_request_id": request.id,
        "approve": True,
    }
    answered: Any = client.responses.create(
        model="agent", input=[approve], tools=tools, previous_response_id=asked.id
    )
    kinds = [item.type for item in answered.output]
    assert kinds == ["mcp_list_tools", "mcp_call", "message"]
    assert answered.output[1].approval_request_id == request.id
    assert answered.output_text == "done: rain in Paris for 3 days"
    assert weather.calls == ["Paris"]

    # Declined: the model is told, nothing is called, and it asks again (the fake always
    # calls when the last message is not a tool's result: here it is, the refusal).
    decline: Any = {**approve, "approve": False}
    declined = client.responses.create(
        model="agent",
        input=[decline],
        tools=tools,
        previous_response_id=asked.id,
    )
    assert declined.output_text == "done: The user declined this call; it was not made."
    assert weather.calls == ["Paris"]


def test_the_loop_stops_at_its_step_limit(client: openai.OpenAI, weather: WeatherServer) -> None:
    weather.calls.clear()
    response: Any = client.responses.create(
        model="tools", input="Weather?", tools=[_mcp(weather, require_approval="never")]
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_tool_calls"
    assert [item.type for item in response.output].count("mcp_call") == 3  # max_steps
    assert len(weather.calls) == 3
    limited = client.responses.create(
        model="tools",
        input="Weather?",
        tools=[_mcp(weather, require_approval="never")],
        max_tool_calls=1,
    )
    assert [item.type for item in limited.output].count("mcp_call") == 1


def test_streamed_loop_events(agent_server: LiveServer, weather: WeatherServer) -> None:
    body = {
        "model": "agent",
        "input": "Weather in Paris?",
        "stream": True,
        "tools": [_mcp(weather, require_approval="never", allowed_tools=["get_weather"])],
    }
    url = f"{agent_server.base_url}/responses"
    with httpx.stream("POST", url, json=body, headers=agent_server.headers, timeout=60) as sent:
        assert sent.status_code == 200
        raw = sent.read().decode()
    events = [json.loads(block.split("\ndata: ")[1]) for block in raw.split("\n\n")[:-1]]
    types = [event["type"] for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert "response.mcp_list_tools.completed" in types
    assert types.index("response.mcp_call.in_progress") < types.index("response.mcp_call.completed")
    assert types[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["mcp_list_tools", "mcp_call", "message"]

    # The SDK's stream helper accepts the sequence.
    client = openai.OpenAI(
        base_url=agent_server.base_url, api_key=agent_server.api_key, max_retries=0
    )
    fields: Any = {key: value for key, value in body.items() if key != "stream"}
    with client.responses.stream(**fields) as stream:
        done = stream.get_final_response()
    assert done.output_text == "done: 18 C and sunny in Paris"


def _error(server: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server.base_url}/responses", json=body, headers=server.headers)
    assert answer.status_code >= 400, answer.text
    return {"status": answer.status_code, **answer.json()["error"]}


def test_servers_off_the_allow_list_and_bad_tools_are_refused(
    agent_server: LiveServer, weather: WeatherServer
) -> None:
    weather.calls.clear()
    elsewhere = weather.url.replace("/mcp", "/other")
    refused = _error(
        agent_server,
        {"model": "agent", "input": "hi", "tools": [_mcp(weather, server_url=elsewhere)]},
    )
    assert (refused["status"], refused["param"]) == (400, "tools[0].server_url")
    assert "allow-list" in refused["message"]
    connector = _error(
        agent_server,
        {
            "model": "agent",
            "input": "hi",
            "tools": [{"type": "mcp", "server_label": "x", "connector_id": "connector_gmail"}],
        },
    )
    assert connector["status"] == 400
    clash = {"type": "function", "name": "get_weather"}
    twice = _error(
        agent_server,
        {"model": "agent", "input": "hi", "tools": [_mcp(weather), clash]},
    )
    assert (twice["status"], twice["param"]) == (400, "tools")
    orphan = _error(
        agent_server,
        {
            "model": "agent",
            "input": [
                {"type": "mcp_approval_response", "approval_request_id": "mcpr_x", "approve": True}
            ],
            "tools": [_mcp(weather)],
        },
    )
    assert (orphan["status"], orphan["param"]) == (400, "input[0].approval_request_id")
    assert weather.calls == []


def test_an_unreachable_server_is_a_424(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    settings = upstream_settings(tmp_path_factory.mktemp("dead"), fake_upstream.base_url)
    tools = ToolSettings(mcp_servers=[dead], call_timeout_seconds=5)
    with serve(settings.model_copy(update={"tools": tools})) as server:
        body = {
            "model": "agent",
            "input": "hi",
            "tools": [{"type": "mcp", "server_label": "gone", "server_url": dead}],
        }
        error = _error(server, body)
    assert (error["status"], error["code"]) == (424, "mcp_server_error")
    assert "gone" in error["message"]
