"""Folds the chunks of a streamed completion into the completion itself.

The embedded backend answers non-streamed requests this way: a streamed generation can be
stopped between tokens when its caller goes away, a non-streamed one in llama.cpp cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmstack.llm.types import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    FunctionCall,
    ToolCall,
    Usage,
)


@dataclass
class _ToolCallParts:
    id: str | None = None
    type: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def build(self) -> ToolCall:
        function = FunctionCall(name=self.name, arguments="".join(self.arguments))
        return ToolCall(id=self.id, type=self.type or "function", function=function)


@dataclass
class _ChoiceParts:
    role: str = "assistant"
    content: list[str] = field(default_factory=list)
    tool_calls: dict[int, _ToolCallParts] = field(default_factory=dict)
    finish_reason: str | None = None

    def build(self, index: int) -> Choice:
        calls = [self.tool_calls[i].build() for i in sorted(self.tool_calls)] or None
        content = "".join(self.content) if self.content or not calls else None
        message = AssistantMessage(role=self.role, content=content, tool_calls=calls)
        return Choice(index=index, message=message, finish_reason=self.finish_reason)


class CompletionAssembler:
    def __init__(self) -> None:
        self._first: ChatCompletionChunk | None = None
        self._choices: dict[int, _ChoiceParts] = {}
        self._usage: Usage | None = None
        self._extra: dict[str, Any] = {}

    def add(self, chunk: ChatCompletionChunk) -> None:
        self._first = self._first or chunk
        if chunk.usage is not None:
            self._usage = chunk.usage
        self._extra.update(chunk.model_extra or {})
        for choice in chunk.choices:
            parts = self._choices.setdefault(choice.index, _ChoiceParts())
            delta = choice.delta
            if delta.role:
                parts.role = delta.role
            if delta.content:
                parts.content.append(delta.content)
            for position, call in enumerate(delta.tool_calls or ()):
                index = (call.model_extra or {}).get("index", position)
                call_parts = parts.tool_calls.setdefault(int(index), _ToolCallParts())
                call_parts.id = call.id or call_parts.id
                call_parts.type = call.type or call_parts.type
                if call.function is not None:
                    call_parts.name += call.function.name or ""
                    if call.function.arguments:
                        call_parts.arguments.append(call.function.arguments)
            if choice.finish_reason:
                parts.finish_reason = choice.finish_reason

    def completion(self, model: str) -> ChatCompletion:
        first = self._first
        choices = [self._choices[i].build(i) for i in sorted(self._choices)]
        fields: dict[str, Any] = {**self._extra, "model": model, "choices": choices}
        if first is not None:
            fields.update(id=first.id, created=first.created)
            if first.system_fingerprint:
                fields["system_fingerprint"] = first.system_fingerprint
        if self._usage is not None:
            fields["usage"] = self._usage
        return ChatCompletion(**fields)
