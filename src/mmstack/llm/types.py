"""OpenAI chat-completions shapes: the request, the completion and the streamed chunk.

Every model allows fields it does not name, and keeps them: a request's `tools`,
`tool_choice`, `response_format` or a backend-specific option reach the backend as sent, and
a backend's extra response fields (llama.cpp's `timings`) reach the client.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmstack.json_numbers import JsonInt


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextPart(_Open):
    type: Literal["text"]
    text: str


class ImageUrl(_Open):
    url: str
    detail: str | None = None


class ImagePart(_Open):
    type: Literal["image_url"]
    image_url: ImageUrl


class OtherPart(_Open):
    """A content part of a kind mmstack does not interpret (audio, file, ...)."""

    type: str


ContentPart = TextPart | ImagePart | OtherPart
IMAGE_PART_TYPES = frozenset({"image_url", "input_image"})


class FunctionCall(_Open):
    name: str | None = None
    arguments: str | None = None


class ToolCall(_Open):
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None


Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(_Open):
    role: Role
    content: str | list[ContentPart] | None = Field(default=None, union_mode="left_to_right")
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def has_images(self) -> bool:
        # By type, not by class: an image part of an unexpected shape still is one.
        return isinstance(self.content, list) and any(
            part.type in IMAGE_PART_TYPES for part in self.content
        )

    def text(self) -> str:
        """The message's text, content parts joined; images and other parts left out."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))


class ChatCompletionRequest(_Open):
    # JSON's types as they are: `false` or "1" is not a number.
    model_config = ConfigDict(extra="allow", strict=True)

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: JsonInt | None = Field(default=None, ge=1)
    max_completion_tokens: JsonInt | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: JsonInt | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: JsonInt | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None
    user: str | None = None

    def has_images(self) -> bool:
        return any(message.has_images() for message in self.messages)

    def for_model(self, model: str, *, stream: bool) -> ChatCompletionRequest:
        """This request addressed to `model` (an alias resolved), streamed or not."""
        return self.model_copy(update={"model": model, "stream": stream})

    def body(self) -> dict[str, Any]:
        """The JSON body to send on: what the client sent (unknown fields too), no defaults."""
        return self.model_dump(mode="json", exclude_unset=True)


class Usage(_Open):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class AssistantMessage(_Open):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class Choice(_Open):
    index: int = 0
    message: AssistantMessage
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletion(_Open):
    id: str = Field(default_factory=lambda: new_completion_id())
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class Delta(_Open):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class ChunkChoice(_Open):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(_Open):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    """One entry of `GET /v1/models`."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
