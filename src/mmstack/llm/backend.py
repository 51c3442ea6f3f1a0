"""What every LLM backend offers: OpenAI chat completions, whole or streamed, and what the
context packer needs to know (the context window, the prompt's size in tokens)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from mmstack.llm.types import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest


class ChatStream(Protocol):
    """Chunks of one streamed completion. Closing it (or the consumer being cancelled
    while it waits for a chunk) stops the generation."""

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]: ...

    async def __anext__(self) -> ChatCompletionChunk: ...

    async def aclose(self) -> None: ...


class ChatBackend(Protocol):
    @property
    def name(self) -> str:
        """For logs and error messages: `embedded`, `upstream:<name>`."""

    def models(self) -> list[str]:
        """The model ids this backend serves."""

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        """The whole completion of `request` (its `model` is one of `models()`)."""

    async def stream(self, request: ChatCompletionRequest) -> ChatStream:
        """Starts a streamed completion. Returns once the backend has accepted the request
        and sent its first chunk, so an unavailable backend, a rejected request or a prompt
        over the window raises here, before anything reaches the client."""

    async def context_window(self, model: str) -> int | None:
        """Tokens of prompt plus answer one request may use; None when unknown."""

    async def count_prompt_tokens(self, request: ChatCompletionRequest) -> int | None:
        """Tokens of the request's prompt as the model sees it (chat template, tools
        included); None when the backend cannot tell."""

    async def ready(self) -> None:
        """Raises a `ModelUnavailableError` when the backend cannot take a request now."""

    async def aclose(self) -> None: ...
