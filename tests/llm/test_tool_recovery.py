"""Tool calls a model writes as JSON text, made tool calls; any other answer unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from mmstack.llm.tool_recovery import (
    RecoveredToolCalls,
    answered_calls,
    parse_calls,
    tool_names,
)
from mmstack.llm.types import ChatCompletionChunk, ChatMessage

NAMES = {"get_weather", "get_time"}


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        (
            '{"name": "get_weather", "arguments": {"city": "Paris"}}',
            [("get_weather", {"city": "Paris"})],
        ),
        (
            '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
            [("get_weather", {"city": "Paris"})],
        ),
        ('<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>', [("get_time", {})]),
        (
            '{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}',
            [("get_weather", {"city": "Rome"})],
        ),
        (
            '{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
            '{"name": "get_time", "arguments": {}}',
            [("get_weather", {"city": "Paris"}), ("get_time", {})],
        ),
        ('[{"name": "get_time", "parameters": {"zone": "UTC"}}]', [("get_time", {"zone": "UTC"})]),
        ('{{"name": "get_time", "arguments": {"zone": "UTC"}}}', [("get_time", {"zone": "UTC"})]),
        # Not calls: a tool the request did not give, other fields, prose, a JSON answer.
        ('{"name": "send_mail", "arguments": {}}', None),
        ('{"name": "get_time", "arguments": {}, "why": "asked"}', None),
        ("It is sunny in Paris.", None),
        ('{"temperature": 14}', None),
        ('{"name": "get_weather", "arguments": {"city": "Paris"}} and more', None),
        ('<tool_call>{"name": "get_time", "arguments": {}}</tool_call> It is noon.', None),
    ],
)
def test_parse_calls(text: str, calls: list[tuple[str, dict[str, object]]] | None) -> None:
    parsed = parse_calls(text, NAMES)
    if calls is None:
        assert parsed is None
    else:
        assert [(name, json.loads(arguments)) for name, arguments in parsed or []] == calls


def test_tool_names_are_the_requests_functions() -> None:
    tools: list[dict[str, Any]] = [
        {"type": "function", "function": {"name": "get_time"}},
        {"type": "file_search"},
        {"type": "function", "function": "broken"},
    ]
    assert tool_names(tools) == {"get_time"}
    assert tool_names(None) == set()


class _Chunks:
    """A chat stream of given content deltas, then a finish chunk carrying usage."""

    def __init__(self, deltas: Sequence[str], finish: str = "stop") -> None:
        pieces = [
            {"role": "assistant", "content": deltas[0]},
            *({"content": d} for d in deltas[1:]),
        ]
        self._chunks = [_chunk(delta) for delta in pieces]
        last = _chunk({}, finish)
        last["usage"] = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
        self._chunks.append(last)
        self.closed = False

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if not self._chunks:
            raise StopAsyncIteration
        return ChatCompletionChunk.model_validate(self._chunks.pop(0))

    async def aclose(self) -> None:
        self.closed = True


def _chunk(delta: Mapping[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "c",
        "model": "m",
        "object": "chat.completion.chunk",
        "created": 0,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _drain(deltas: Sequence[str]) -> list[ChatCompletionChunk]:
    async def run() -> list[ChatCompletionChunk]:
        return [chunk async for chunk in RecoveredToolCalls(_Chunks(deltas), NAMES)]

    return asyncio.run(run())


def test_a_call_written_as_json_streams_as_a_tool_call() -> None:
    chunks = _drain(
        ['```json\n{"name": "get_weather",', ' "arguments": {"city": "Paris"}}', "\n```"]
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ""  # nothing of the JSON went out as text
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
    assert [(call.function.name, call.function.arguments) for call in calls if call.function] == [
        ("get_weather", '{"city": "Paris"}')
    ]
    assert calls[0].id
    assert calls[0].id.startswith("call_")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 12


def test_prose_streams_as_it_comes_and_json_that_is_no_call_is_sent_whole() -> None:
    prose = _drain(["It is", " sunny."])
    assert [c.choices[0].delta.content for c in prose if c.choices][:2] == ["It is", " sunny."]
    answer = _drain(['{"temperature":', " 14}"])
    texts = [c.choices[0].delta.content for c in answer if c.choices and c.choices[0].delta.content]
    assert texts == ['{"temperature": 14}']
    assert [c.choices[0].finish_reason for c in answer if c.choices][-1] == "stop"


def test_a_call_already_answered_is_asked_again_without_tools() -> None:
    """The conversation holds get_weather(Paris)'s result; the model calls it again: the
    answer comes from the request made again without tools."""
    messages = [
        ChatMessage.model_validate(m)
        for m in (
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "14 C"},
        )
    ]
    answered = answered_calls(messages)
    assert answered == {("get_weather", '{"city": "Paris"}')}
    # Asked again later, the same call is a new one.
    later = ChatMessage.model_validate({"role": "user", "content": "And now?"})
    assert answered_calls([*messages, later]) == set()
    asked_again: list[bool] = []

    async def without_tools() -> Any:
        asked_again.append(True)
        return _Chunks(["It is 14 C", " in Paris."])

    async def run(deltas: Sequence[str]) -> list[ChatCompletionChunk]:
        stream = RecoveredToolCalls(
            _Chunks(deltas), NAMES, answered=answered, without_tools=without_tools
        )
        return [chunk async for chunk in stream]

    again = asyncio.run(run(['{"name": "get_weather", "arguments": {"city": "Paris"}}']))
    assert asked_again == [True]
    text = "".join(c.choices[0].delta.content or "" for c in again if c.choices)
    assert text == "It is 14 C in Paris."
    assert not any(c.choices[0].delta.tool_calls for c in again if c.choices)
    # Another city is a new call: it goes out as one.
    other = asyncio.run(run(['{"name": "get_weather", "arguments": {"city": "Rome"}}']))
    assert asked_again == [True]
    assert [c.choices[0].finish_reason for c in other if c.choices][-1] == "tool_calls"


class _ParsedCalls(_Chunks):
    """A stream whose call llama.cpp parsed itself: tool_calls deltas, in two pieces."""

    def __init__(self, city: str) -> None:
        super().__init__([""], finish="tool_calls")
        opening = {"index": 0, "id": "c9", "type": "function"}
        first = {**opening, "function": {"name": "get_weather", "arguments": '{"city": '}}
        rest = {"index": 0, "function": {"arguments": f'"{city}"}}'}}
        self._chunks[:1] = [
            _chunk({"role": "assistant", "tool_calls": [first]}),
            _chunk({"tool_calls": [rest]}),
        ]


def test_a_parsed_call_already_answered_is_asked_again_too() -> None:
    answered = {("get_weather", '{"city": "Paris"}')}
    asked_again: list[bool] = []

    async def without_tools() -> Any:
        asked_again.append(True)
        return _Chunks(["It is 14 C."])

    async def run(city: str) -> list[ChatCompletionChunk]:
        stream = RecoveredToolCalls(
            _ParsedCalls(city), NAMES, answered=answered, without_tools=without_tools
        )
        return [chunk async for chunk in stream]

    again = asyncio.run(run("Paris"))
    assert asked_again == [True]
    assert "".join(c.choices[0].delta.content or "" for c in again if c.choices) == "It is 14 C."
    rome = asyncio.run(run("Rome"))  # a new call: sent as llama.cpp parsed it
    calls = [call for c in rome if c.choices for call in c.choices[0].delta.tool_calls or ()]
    assert [call.id for call in calls] == ["c9", None]
    assert [c.choices[0].finish_reason for c in rome if c.choices][-1] == "tool_calls"
