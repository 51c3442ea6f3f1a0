"""`/v1/responses` through the official `openai` client, translated onto the chat models of
the fake upstream (a real OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import openai
import pytest

from mmstack.store.models import DEFAULT_TEAM_ID
from mmstack.store.ownership import Owner
from tests.api.live_server import LiveServer
from tests.api.openai.fake_grounding import ANSWER, CITATION, FakeGrounding
from tests.llm.fake_upstream import FakeUpstream

FILE_SEARCH: Any = {"type": "file_search", "vector_store_ids": ["vs_reports"]}
MESSAGE_EVENTS = [
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def _wire_events(server: LiveServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a streamed response as sent: `event:` names match the data's type."""
    url = f"{server.base_url}/responses"
    with httpx.stream("POST", url, json=body, headers=server.headers, timeout=30) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    events: list[dict[str, Any]] = []
    for block in raw.split("\n\n")[:-1]:
        name, data = block.split("\n")
        events.append(json.loads(data.removeprefix("data: ")))
        assert name == f"event: {events[-1]['type']}"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def _collapse(types: Sequence[str]) -> list[str]:
    """Event types with runs of the same type counted once."""
    return [t for n, t in enumerate(types) if n == 0 or types[n - 1] != t]


def test_text_input_and_instructions_become_chat_messages(
    llm_client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    response = llm_client.responses.create(
        model="echo",
        input="what is new?",
        instructions="Be brief.",
        max_output_tokens=20,
        temperature=0.3,
        metadata={"case": "one"},
    )
    sent = fake_upstream.bodies[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what is new?"},
    ]
    assert (sent["max_tokens"], sent["temperature"], sent["stream"]) == (20, 0.3, False)

    assert response.id.startswith("resp_")
    assert (response.object, response.status, response.model) == ("response", "completed", "echo")
    assert response.output_text == "echo: what is new?"
    message = response.output[0]
    assert message.type == "message"
    assert message.id.startswith("msg_")
    assert (message.role, message.status) == ("assistant", "completed")
    assert message.content[0].type == "output_text"
    assert message.content[0].annotations == []
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (5, 3)
    assert response.usage.total_tokens == 8
    assert (response.instructions, response.max_output_tokens) == ("Be brief.", 20)
    assert response.metadata == {"case": "one"}


def test_message_list_input(llm_client: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    conversation: Any = [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "salut", "annotations": []}],
        },
        {"role": "user", "content": "and then?"},
    ]
    response = llm_client.responses.create(
        model="echo",
        input=conversation,
        text={"format": {"type": "json_schema", "name": "reply", "schema": {"type": "object"}}},
    )
    assert response.output_text == "echo: and then?"
    sent = fake_upstream.bodies[-1]
    assert sent["messages"] == [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "salut"}]},
        {"role": "user", "content": "and then?"},
    ]
    schema = {"name": "reply", "schema": {"type": "object"}}
    assert sent["response_format"] == {"type": "json_schema", "json_schema": schema}


def test_stream_sends_the_semantic_events_in_order(
    llm_client: openai.OpenAI, upstream_server: LiveServer
) -> None:
    body = {"model": "echo", "input": "one two three", "stream": True}
    events = _wire_events(upstream_server, body)
    types = [e["type"] for e in events]
    assert _collapse(types) == [
        "response.created",
        "response.in_progress",
        *MESSAGE_EVENTS,
        "response.completed",
    ]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "echo: one two three"
    assert len(deltas) == 4
    assert {e["response"]["id"] for e in events if "response" in e} == {events[0]["response"]["id"]}
    assert events[0]["response"]["status"] == "in_progress"
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "echo: one two three"
    assert final["usage"]["total_tokens"] == 8  # mmstack asks the backend for usage

    # The SDK's stream helper checks the events fit together and builds the response.
    with llm_client.responses.stream(model="echo", input="one two three") as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final_response = stream.get_final_response()
    assert "".join(texts) == final_response.output_text == "echo: one two three"


def test_refusals_and_errors(llm_client: openai.OpenAI) -> None:
    def refused(**fields: Any) -> openai.APIStatusError:
        with pytest.raises(openai.APIStatusError) as caught:
            llm_client.responses.create(**{"model": "echo", "input": "hi", **fields})
        return caught.value

    unknown = refused(model="gpt-17")
    assert (unknown.status_code, unknown.code) == (404, "model_not_found")
    down = refused(model="down", stream=True)
    assert (down.status_code, down.code) == (503, "backend_unavailable")
    slow = refused(model="slow")
    assert slow.status_code == 504

    no_store = refused(tools=[FILE_SEARCH])
    assert (no_store.status_code, no_store.code) == (404, "not_found")
    assert "vs_reports" in no_store.message
    function = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    assert "not supported" in refused(tools=[{"type": "web_search"}]).message
    assert "cannot be combined" in refused(tools=[FILE_SEARCH, function]).message
    assert refused(tools=[{"type": "function", "name": "bad name"}]).param == "tools[0].name"
    assert "distinct names" in refused(tools=[function, function]).message
    assert refused(tools=[function], tool_choice="sometimes").param == "tool_choice"
    assert refused(tools=[{"type": "file_search"}]).param == "tools[0].vector_store_ids"
    unknown_previous = refused(previous_response_id="resp_1")
    assert (unknown_previous.status_code, unknown_previous.param) == (404, "previous_response_id")
    for item in (
        {"type": "function_call_output", "call_id": "c"},
        {"type": "function_call", "call_id": "c", "arguments": "{}"},
        {"type": "item_reference", "id": "msg_1"},
    ):
        assert refused(input=[item]).param == "input[0]"
    pdf = {"type": "input_file", "file_id": "file-1"}
    assert "file_search" in refused(input=[{"role": "user", "content": [pdf]}]).message

    with pytest.raises(openai.NotFoundError, match="resp_123"):
        llm_client.responses.retrieve("resp_123")


def test_stored_responses_carry_the_conversation(
    llm_client: openai.OpenAI, fake_upstream: FakeUpstream, upstream_server: LiveServer
) -> None:
    """`store` (the default) keeps a response; `previous_response_id` continues its
    conversation: its inputs and answers, oldest first, before the new input (not its
    instructions, as in OpenAI's API)."""
    first = llm_client.responses.create(
        model="echo", input="The audit found three issues.", instructions="Be brief."
    )
    assert first.to_dict()["store"] is True  # a field this SDK's Response does not declare
    kept = llm_client.responses.retrieve(first.id)
    assert (kept.id, kept.output_text, kept.status) == (first.id, first.output_text, "completed")

    second = llm_client.responses.create(
        model="echo", input="which ones?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert fake_upstream.bodies[-1]["messages"] == [
        {"role": "user", "content": "The audit found three issues."},
        {"role": "assistant", "content": "echo: The audit found three issues."},
        {"role": "user", "content": "which ones?"},
    ]
    # Streamed: kept before the stream says it is done.
    with llm_client.responses.stream(
        model="echo", input="and the second?", previous_response_id=second.id
    ) as stream:
        third = stream.get_final_response()
    assert llm_client.responses.retrieve(third.id).output_text == "echo: and the second?"
    llm_client.responses.create(model="echo", input="go on", previous_response_id=third.id)
    assert [m["content"] for m in fake_upstream.bodies[-1]["messages"]] == [
        "The audit found three issues.",
        "echo: The audit found three issues.",
        "which ones?",
        "echo: which ones?",
        "and the second?",
        "echo: and the second?",
        "go on",
    ]

    unkept = llm_client.responses.create(model="echo", input="forget me", store=False)
    assert unkept.to_dict()["store"] is False
    with pytest.raises(openai.NotFoundError):
        llm_client.responses.retrieve(unkept.id)
    llm_client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        llm_client.responses.retrieve(second.id)
    with pytest.raises(openai.NotFoundError):
        llm_client.responses.delete(second.id)
    # What came before a deleted turn is no longer part of the conversation.
    llm_client.responses.create(model="echo", input="last", previous_response_id=third.id)
    assert [m["content"] for m in fake_upstream.bodies[-1]["messages"]] == [
        "and the second?",
        "echo: and the second?",
        "last",
    ]


def test_failure_midway_sends_error_and_failed_events(upstream_server: LiveServer) -> None:
    events = _wire_events(upstream_server, {"model": "midway", "input": "hi", "stream": True})
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    error = events[-2]
    assert error["code"] == "bad_backend_response"
    assert "upstream crashed" in error["message"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "server_error"
    assert failed["output"][0]["content"][0]["text"] == "Once upon"


def test_client_going_away_stops_the_generation(
    upstream_server: LiveServer, fake_upstream: FakeUpstream
) -> None:
    client = openai.OpenAI(
        base_url=upstream_server.base_url, api_key=upstream_server.api_key, max_retries=0
    )
    fake_upstream.hung_up.clear()
    stream = client.responses.create(model="endless", input="go on", stream=True)
    deltas = 0
    for event in stream:
        deltas += event.type == "response.output_text.delta"
        if deltas == 3:
            break
    stream.close()
    assert fake_upstream.hung_up.wait(5)


def test_file_search_goes_through_the_grounding_seam(
    llm_client: openai.OpenAI, upstream_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    grounding = FakeGrounding()
    monkeypatch.setattr(upstream_server.stack, "grounded_chat", grounding)
    search: Any = {**FILE_SEARCH, "max_num_results": 5}
    response = llm_client.responses.create(model="echo", input="what failed?", tools=[search])
    request, scope = grounding.calls[-1]
    assert grounding.owners[-1] == Owner(DEFAULT_TEAM_ID)  # the admin's team, every key's scope
    assert (list(scope.vector_store_ids), scope.max_num_results) == (["vs_reports"], 5)
    assert request.messages[-1].text() == "what failed?"
    assert [item.type for item in response.output] == ["file_search_call", "message"]
    call = response.output[0]
    assert call.type == "file_search_call"
    assert (call.status, call.queries) == ("completed", ["what failed?"])
    assert response.output_text == ANSWER
    message = response.output[1]
    assert message.type == "message"
    assert [a.to_dict() for a in message.content[0].annotations] == [CITATION]  # type: ignore[union-attr]

    with llm_client.responses.stream(model="echo", input="what failed?", tools=[search]) as stream:
        types = [event.type for event in stream]
        streamed = stream.get_final_response()
    assert _collapse(types) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_item.done",
        *MESSAGE_EVENTS[:3],
        "response.output_text.annotation.added",
        *MESSAGE_EVENTS[3:],
        "response.completed",
    ]
    assert streamed.output_text == ANSWER
    streamed_message = streamed.output[1]
    assert streamed_message.type == "message"
    annotations = streamed_message.content[0].annotations  # type: ignore[union-attr]
    assert [a.to_dict() for a in annotations] == [CITATION]

    # tool_choice "none": the model answers without searching.
    plain = llm_client.responses.create(
        model="echo", input="hi", tools=[FILE_SEARCH], tool_choice="none"
    )
    assert plain.output_text == "echo: hi"


WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city now",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_function_calls_are_items_and_their_outputs_continue_the_turn(
    llm_client: openai.OpenAI, fake_upstream: FakeUpstream, upstream_server: LiveServer
) -> None:
    """The `tools` model of the fake upstream calls the first tool; its call comes back as
    a function_call item, and the client's function_call_output (with
    previous_response_id, or the whole exchange as input) reaches the model as chat's
    assistant tool_calls and tool message."""
    first = llm_client.responses.create(model="tools", input="Weather in Paris?", tools=[WEATHER])
    sent = fake_upstream.bodies[-1]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city now",
                "parameters": WEATHER["parameters"],
            },
        }
    ]
    assert sent["tool_choice"] == "auto"
    [call] = first.output
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert call.call_id
    assert first.output_text == ""

    output: Any = {"type": "function_call_output", "call_id": call.call_id, "output": "22 C, sunny"}
    second = llm_client.responses.create(
        model="echo", input=[output], tools=[WEATHER], previous_response_id=first.id
    )
    assert second.status == "completed"
    assert fake_upstream.bodies[-1]["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": call.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.call_id, "content": "22 C, sunny"},
    ]

    # Without a stored response: the exchange as input, the calls of one turn together.
    exchange: Any = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "22 C"},
        {
            "type": "function_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "18 C"}],
        },
    ]
    llm_client.responses.create(
        model="echo",
        input=exchange,
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        store=False,
    )
    sent = fake_upstream.bodies[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in sent["messages"][1]["tool_calls"]] == ["c1", "c2"]
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "c2", "content": "18 C"}

    # Streamed: the call is an item of its own, its arguments come in fragments.
    events = _wire_events(
        upstream_server, {"model": "tools", "input": "Weather?", "tools": [WEATHER], "stream": True}
    )
    types = _collapse([e["type"] for e in events])
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e["delta"] for e in events if e["type"].endswith("arguments.delta")]
    assert len(deltas) > 1
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert done["arguments"] == "".join(deltas)
    assert json.loads(done["arguments"]) == {"city": "Paris"}
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["function_call"]
    assert final["output"][0]["arguments"] == done["arguments"]
    with llm_client.responses.stream(model="tools", input="Weather?", tools=[WEATHER]) as stream:
        streamed = stream.get_final_response()
    assert streamed.output[0].type == "function_call"
