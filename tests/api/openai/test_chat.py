"""`/v1/chat/completions` through the official `openai` client, against a live server whose
chat models live on the fake upstream (a real OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import openai
import pytest

from mmstack.store.models import DEFAULT_TEAM_ID
from mmstack.store.ownership import Owner
from tests.api.live_server import LiveServer
from tests.api.openai.fake_grounding import ANSWER, CITATION, FakeGrounding
from tests.llm.fake_upstream import TOOL_ARGUMENTS, FakeUpstream

HELLO: Any = [{"role": "user", "content": "hello there"}]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _events(server: LiveServer, body: dict[str, Any]) -> list[str]:
    """The `data:` payloads of a streamed answer, read off the wire."""
    url = f"{server.base_url}/chat/completions"
    with httpx.stream("POST", url, json=body, headers=server.headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == ""  # every event ends with a blank line
    assert all(event.startswith("data: ") for event in events[:-1])
    return [event.removeprefix("data: ") for event in events[:-1]]


def test_completion_passes_fields_both_ways(
    llm_client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    completion = llm_client.chat.completions.create(
        model="echo",
        messages=HELLO,
        temperature=0.2,
        extra_body={"x_vendor_option": 7},
    )
    assert completion.object == "chat.completion"
    assert completion.model == "echo"
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 8
    assert (completion.model_extra or {}).get("x_served_by") == "fake"

    sent = fake_upstream.bodies[-1]
    assert sent["temperature"] == 0.2
    assert sent["x_vendor_option"] == 7
    assert sent["stream"] is False
    assert "top_p" not in sent  # nothing the client did not send


def test_stream_is_server_sent_events_ending_in_done(
    llm_client: openai.OpenAI, upstream_server: LiveServer
) -> None:
    stream = llm_client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 8
    assert {c.object for c in chunks} == {"chat.completion.chunk"}

    body = {"model": "echo", "messages": HELLO, "stream": True}
    events = _events(upstream_server, body)
    assert events[-1] == "[DONE]"
    parsed = [json.loads(event) for event in events[:-1]]
    assert all("usage" not in chunk for chunk in parsed)  # not asked for
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in parsed if c["choices"])
    assert text == "echo: hello there"


def test_tool_calls_pass_through(llm_client: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    completion = llm_client.chat.completions.create(
        model="tools", messages=HELLO, tools=[WEATHER], tool_choice="auto"
    )
    assert fake_upstream.bodies[-1]["tools"] == [WEATHER]
    assert fake_upstream.bodies[-1]["tool_choice"] == "auto"
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("call_1", "get_weather", TOOL_ARGUMENTS)
    ]

    # The SDK's stream helper folds the tool call's streamed parts back together.
    with llm_client.chat.completions.stream(
        model="tools", messages=HELLO, tools=[WEATHER], tool_choice="required"
    ) as stream:
        final = stream.get_final_completion()
    assert fake_upstream.bodies[-1]["tool_choice"] == "required"
    streamed = final.choices[0].message.tool_calls or []
    assert len(streamed) == 1
    assert streamed[0].function.name == "get_weather"
    assert json.loads(streamed[0].function.arguments) == {"city": "Paris"}
    assert final.choices[0].finish_reason == "tool_calls"


def _status_error(call: Any) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    return caught.value


def test_errors_have_openai_shape_and_status(llm_client: openai.OpenAI) -> None:
    def ask(model: str, **fields: Any) -> Any:
        return lambda: llm_client.chat.completions.create(model=model, messages=HELLO, **fields)

    unknown = _status_error(ask("gpt-17"))
    assert (unknown.status_code, unknown.code, unknown.param) == (404, "model_not_found", "model")
    assert "gpt-17" in unknown.message

    too_long = _status_error(ask("too-long"))
    assert (too_long.status_code, too_long.code) == (400, "context_length_exceeded")
    rejected = _status_error(ask("reject", stream=True))
    assert (rejected.status_code, rejected.code, rejected.param) == (400, "invalid_tools", "tools")

    for stream in (False, True):
        garbage = _status_error(ask("garbage", stream=stream))
        assert (garbage.status_code, garbage.code) == (502, "bad_backend_response")
        assert "upstream:fake sent an unusable answer" in garbage.message

        down = _status_error(ask("down", stream=stream))
        assert (down.status_code, down.code) == (503, "backend_unavailable")
        assert "upstream:down is unreachable" in down.message

        started = time.monotonic()
        slow = _status_error(ask("slow", stream=stream))
        assert (slow.status_code, slow.code) == (504, "backend_timeout")
        assert "did not answer within 0.3 s" in slow.message
        assert time.monotonic() - started < 0.9  # the fake answers after 1 s

    for bad in ({"model": "echo", "messages": []}, {"messages": HELLO}):
        with pytest.raises(openai.BadRequestError) as invalid:
            llm_client.post("/chat/completions", body=bad, cast_to=dict)
        assert invalid.value.code == "invalid_request"
    not_json = httpx.post(
        f"{llm_client.base_url}chat/completions",
        content=b"{nope",
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {llm_client.api_key}",
        },
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "invalid_json"


def test_failure_after_the_stream_started_ends_it_with_an_error_event(
    llm_client: openai.OpenAI, upstream_server: LiveServer
) -> None:
    stream = llm_client.chat.completions.create(model="midway", messages=HELLO, stream=True)
    received: list[str] = []

    def read_all() -> None:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError, match="upstream crashed"):
        read_all()
    assert "".join(received) == "Once upon"

    events = _events(upstream_server, {"model": "midway", "messages": HELLO, "stream": True})
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert (error["type"], error["code"]) == ("server_error", "bad_backend_response")
    assert "upstream crashed" in error["message"]
    assert "Traceback" not in events[-1]


def test_client_going_away_stops_the_generation(
    upstream_server: LiveServer, fake_upstream: FakeUpstream
) -> None:
    client = openai.OpenAI(
        base_url=upstream_server.base_url, api_key=upstream_server.api_key, max_retries=0
    )
    fake_upstream.hung_up.clear()
    stream = client.chat.completions.create(model="endless", messages=HELLO, stream=True)
    for _ in range(3):
        next(iter(stream))
    stream.close()  # the client disconnects mid-stream
    assert fake_upstream.hung_up.wait(5)  # mmstack hung up on the upstream in turn

    # A whole answer too: the client gives up waiting, mmstack stops the upstream request.
    fake_upstream.hung_up.clear()
    impatient = client.with_options(timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model="endless", messages=HELLO)
    assert fake_upstream.hung_up.wait(5)


def test_other_requests_are_served_during_a_long_generation(
    llm_client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    stream = llm_client.chat.completions.create(model="endless", messages=HELLO, stream=True)
    chunks = iter(stream)
    next(chunks)
    reader_done = threading.Event()

    def keep_reading() -> None:
        for n, _ in enumerate(chunks):
            if n == 50:  # about a second of generation
                break
        reader_done.set()

    reader = threading.Thread(target=keep_reading)
    reader.start()
    started = time.monotonic()
    for n in range(5):
        answer = llm_client.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": f"ping {n}"}]
        )
        assert answer.choices[0].message.content == f"echo: ping {n}"
    assert llm_client.models.list().data
    assert time.monotonic() - started < 1.0
    assert not reader_done.is_set()  # the long generation was still going meanwhile
    reader.join(10)
    stream.close()


def test_vector_store_ids_go_through_the_grounding_seam(
    llm_client: openai.OpenAI, upstream_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = {"vector_store_ids": ["vs_reports"]}
    refused = _status_error(
        lambda: llm_client.chat.completions.create(model="echo", messages=HELLO, extra_body=stores)
    )
    assert (refused.status_code, refused.code) == (404, "not_found")  # no such store
    assert "vs_reports" in refused.message

    grounding = FakeGrounding()
    monkeypatch.setattr(upstream_server.stack, "grounded_chat", grounding)
    completion = llm_client.chat.completions.create(model="echo", messages=HELLO, extra_body=stores)
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].message.to_dict()["annotations"] == [CITATION]
    request, scope = grounding.calls[-1]
    assert grounding.owners[-1] == Owner(DEFAULT_TEAM_ID)  # the admin's team, every key's scope
    assert list(scope.vector_store_ids) == ["vs_reports"]
    assert request.stream is False
    assert "vector_store_ids" not in request.body()  # mmstack's field stays with mmstack

    stream = llm_client.chat.completions.create(
        model="echo", messages=HELLO, stream=True, extra_body=stores
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text == ANSWER
    assert grounding.calls[-1][0].stream is True
