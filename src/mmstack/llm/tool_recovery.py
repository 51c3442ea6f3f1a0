"""Tool calls a small model writes as plain JSON instead of in its chat template's markup.

Asked with tools, the bundled Qwen2.5 models often answer a call as a JSON object, bare or
in a ```json fence, `{"name": "get_weather", "arguments": {"city": "Paris"}}`, rather than
inside the `<tool_call>` tags llama.cpp parses, so the call would reach the client as text.
`RecoveredToolCalls` holds back an answer of a request with tools that starts like JSON
until it ends; when all of it is such calls, each naming one of the request's tools, it is
sent as tool calls, and otherwise as the text it was. An answer that starts with words
streams as it comes.

Given the function's result, the same models often call it again with the same arguments
instead of answering from it. A call the conversation already holds the answer of is not
sent again: the model is asked once more without its tools, and answers from the results.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mmstack.llm.backend import ChatStream
from mmstack.llm.types import ChatCompletionChunk, ChatMessage, ChunkChoice, Delta, ToolCall

_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_JSON_START = ("{", "[", "```", "<tool_call>")


def tool_names(tools: Sequence[dict[str, Any]] | None) -> set[str]:
    names = set()
    for tool in tools or ():
        function = tool.get("function")
        if tool.get("type") == "function" and isinstance(function, dict):
            name = function.get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def canonical(arguments: str) -> str:
    """Arguments in one spelling, to tell a call made again."""
    try:
        return json.dumps(json.loads(arguments), sort_keys=True)
    except ValueError:
        return arguments


def answered_calls(messages: Sequence[ChatMessage]) -> set[tuple[str, str]]:
    """(name, canonical arguments) of the calls the current turn made and has the results
    of: since the last user message (asked again later, the same call is a new one)."""
    last_user = max((n for n, m in enumerate(messages) if m.role == "user"), default=-1)
    turn = messages[last_user + 1 :]
    answered = {m.tool_call_id for m in turn if m.role == "tool" and m.tool_call_id}
    return {
        (call.function.name, canonical(call.function.arguments or ""))
        for message in turn
        if message.role == "assistant"
        for call in message.tool_calls or ()
        if call.id in answered and call.function is not None and call.function.name
    }


def parse_calls(text: str, names: set[str]) -> list[tuple[str, str]] | None:
    """(name, arguments as JSON) of each call `text` is made of, or None when it is not
    wholly calls of tools in `names`."""
    text = text.strip()
    if fenced := _FENCE.match(text):
        text = fenced.group(1)
    tagged = _TAGGED.findall(text)
    pieces = tagged if tagged and not _TAGGED.sub("", text).strip() else [text]
    calls: list[tuple[str, str]] = []
    for piece in pieces:
        found = _json_of(piece)
        if found is None:
            return None
        for call in found if isinstance(found, list) else [found]:
            parsed = _call(call, names)
            if parsed is None:
                return None
            calls.append(parsed)
    return calls or None


def _json_of(piece: str) -> Any:
    """The JSON of `piece`: one value, or one per line (calls side by side), or the value
    inside doubled braces (Qwen's chat template shows a call as `{{"name": ...}}`, and
    small models copy it); None when it is none of these."""
    piece = piece.strip()
    tries = [piece]
    if piece.startswith("{{") and piece.endswith("}}"):
        tries.append(piece[1:-1])
    for attempt in tries:
        try:
            return json.loads(attempt)
        except ValueError:
            pass
    try:
        return [json.loads(line) for line in piece.splitlines() if line.strip()]
    except ValueError:
        return None


def _call(call: Any, names: set[str]) -> tuple[str, str] | None:
    if not isinstance(call, dict) or set(call) - {"name", "arguments", "parameters"}:
        return None
    name = call.get("name")
    arguments = call.get("arguments", call.get("parameters", {}))
    if name not in names:
        return None
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return name, json.dumps(arguments, ensure_ascii=False)


class RecoveredToolCalls:
    """A stream of a request with tools `names`, its JSON-written calls made tool calls."""

    def __init__(
        self,
        inner: ChatStream,
        names: set[str],
        *,
        answered: set[tuple[str, str]] | None = None,
        without_tools: Callable[[], Awaitable[ChatStream]] | None = None,
    ) -> None:
        """`answered`: the calls the conversation holds the results of; `without_tools`
        starts the same request without its tools, for when the model repeats one."""
        self._inner = inner
        self._names = names
        self._answered = answered or set()
        self._without_tools = without_tools
        self._repeated = False
        self._held: list[str] | None = None  # text held back since it started like JSON
        # Calls llama.cpp parsed, held to their end when the turn has answered calls.
        self._parsed: list[ChatCompletionChunk] | None = None
        self._deciding = True  # no text yet: how it starts is not known
        self._pending: list[ChatCompletionChunk] = []
        self._last: ChatCompletionChunk | None = None  # what a made-up chunk copies
        self._ended = False

    def __aiter__(self) -> RecoveredToolCalls:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            try:
                chunk = await self._inner.__anext__()
            except StopAsyncIteration:  # ended without a finish reason
                self._ended = True
                self._pending += self._release(None, "stop")
                self._pending += self._parsed or []
                self._parsed = None
            else:
                self._last = chunk
                self._pending += self._take(chunk)
            if self._repeated and self._without_tools is not None:
                self._repeated = False
                await self._inner.aclose()
                self._inner = await self._without_tools()
                self._deciding, self._ended = False, False  # its text passes as it comes
        return self._pending.pop(0)

    def _take(self, chunk: ChatCompletionChunk) -> list[ChatCompletionChunk]:
        choice = next((c for c in chunk.choices if c.index == 0), None)
        if self._parsed is not None:
            return self._take_parsed(chunk, choice)
        if choice is not None and choice.delta.tool_calls:  # llama.cpp parsed the calls
            self._deciding = False
            released = self._release(chunk, None, keep_text=True)
            if self._answered and self._without_tools is not None:
                self._parsed = []  # held: they may repeat a call the turn has the result of
                return [*released, *self._take_parsed(chunk, choice)]
            return [*released, chunk]
        if choice is None or (self._held is None and not self._deciding):
            return [chunk]
        content = choice.delta.content or ""
        if self._deciding and content.strip():
            self._deciding = False
            if content.lstrip().startswith(_JSON_START):
                self._held = []
        if self._held is None:
            return [chunk]
        self._held.append(content)
        finish = choice.finish_reason
        if finish is not None:
            return self._release(chunk, finish)
        if choice.delta.role:  # the opening chunk goes on, without its text
            delta = choice.delta.model_copy(update={"content": None})
            return [
                chunk.model_copy(update={"choices": [choice.model_copy(update={"delta": delta})]})
            ]
        return []

    def _take_parsed(
        self, chunk: ChatCompletionChunk, choice: ChunkChoice | None
    ) -> list[ChatCompletionChunk]:
        """Hold parsed calls until their end; then send them, or ask again when every one
        is a call the turn has the result of."""
        assert self._parsed is not None
        self._parsed.append(chunk)
        if choice is None or choice.finish_reason is None:
            return []
        held, self._parsed = self._parsed, None
        names: dict[int, str] = {}
        arguments: dict[int, list[str]] = {}
        for piece in held:
            for part in piece.choices:
                for n, call in enumerate(part.delta.tool_calls or ()):
                    index = int((call.model_extra or {}).get("index", n))
                    if call.function is not None and call.function.name:
                        names[index] = call.function.name
                    if call.function is not None and call.function.arguments:
                        arguments.setdefault(index, []).append(call.function.arguments)
        made = {(names.get(i, ""), canonical("".join(arguments.get(i, [])))) for i in names}
        if made and self._answered.issuperset(made):
            self._repeated = True
            return []
        return held

    def _release(
        self, chunk: ChatCompletionChunk | None, finish: str | None, *, keep_text: bool = False
    ) -> list[ChatCompletionChunk]:
        """What the held text becomes: tool calls when it is all calls, else its text."""
        held, self._held = self._held, None
        template = chunk or self._last
        if held is None or template is None:
            return []
        text = "".join(held)
        calls = None if keep_text else parse_calls(text, self._names)
        if (
            calls
            and self._without_tools is not None
            and self._answered.issuperset((name, canonical(arguments)) for name, arguments in calls)
        ):
            self._repeated = True  # the next chunks are the answer asked for without tools
            return []
        if calls is None:
            delta, ending = Delta(content=text), finish
        else:
            made = [_tool_call(n, name, arguments) for n, (name, arguments) in enumerate(calls)]
            delta, ending = Delta(tool_calls=made), ("tool_calls" if finish else None)
        choice = ChunkChoice(delta=delta, finish_reason=ending)
        released = [template.model_copy(update={"choices": [choice], "usage": None})]
        if chunk is not None and chunk.usage is not None and finish is not None:
            released.append(chunk.model_copy(update={"choices": []}))
        return released

    async def aclose(self) -> None:
        await self._inner.aclose()


def _tool_call(index: int, name: str, arguments: str) -> ToolCall:
    return ToolCall.model_validate(
        {
            "index": index,
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
    )
