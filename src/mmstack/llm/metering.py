"""Language-model calls in the metrics: requests by outcome, tokens read and written, the
time to the first token, and the generation's tokens per second."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from mmstack import metrics
from mmstack.llm.backend import ChatStream
from mmstack.llm.types import ChatCompletion, ChatCompletionChunk, Usage


def record_failure(model: str, backend: str) -> None:
    metrics.llm_requests.labels(model, backend, "error").inc()


def record_completion(model: str, backend: str, started: float, done: ChatCompletion) -> None:
    """A whole answer: its time stands for the first token's (nothing came sooner)."""
    seconds = time.perf_counter() - started
    metrics.llm_requests.labels(model, backend, "ok").inc()
    metrics.llm_first_token.labels(model, backend).observe(seconds)
    _tokens(model, backend, done.usage)


def _tokens(model: str, backend: str, usage: Usage | None) -> None:
    if usage is None:
        return
    metrics.llm_tokens.labels(model, backend, "prompt").inc(usage.prompt_tokens)
    metrics.llm_tokens.labels(model, backend, "completion").inc(usage.completion_tokens)


class MeteredStream:
    """A started stream that records itself when it ends: tokens (the backend's usage, else
    one per chunk with text) and their rate after the first."""

    def __init__(self, stream: ChatStream, model: str, backend: str, started: float) -> None:
        self._stream = stream
        self._model, self._backend = model, backend
        self._first = time.perf_counter()
        metrics.llm_requests.labels(model, backend, "ok").inc()
        metrics.llm_first_token.labels(model, backend).observe(self._first - started)
        self._usage: Usage | None = None
        self._chunks = 0
        self._recorded = False

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._record()
            raise
        if chunk.usage is not None:
            self._usage = chunk.usage
        if any(choice.delta.content for choice in chunk.choices):
            self._chunks += 1
        return chunk

    async def aclose(self) -> None:
        self._record()
        await self._stream.aclose()

    def _record(self) -> None:
        if self._recorded:
            return
        self._recorded = True
        usage = self._usage or Usage(completion_tokens=self._chunks)
        _tokens(self._model, self._backend, usage)
        seconds = time.perf_counter() - self._first
        if usage.completion_tokens > 1 and seconds > 0:
            rate = (usage.completion_tokens - 1) / seconds
            metrics.llm_token_rate.labels(self._model, self._backend).observe(rate)
