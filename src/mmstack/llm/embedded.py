"""The embedded backend: bundled GGUF chat models run by llama.cpp in this process.

A generation runs on the model's thread pool and hands each chunk to the event loop. The
consumer stopping (closing the stream, or being cancelled while it waits, as when an HTTP
client disconnects) sets a flag the generation checks at its next token, which ends
llama.cpp's task and frees the slot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import ValidationError

from mmstack.llm.assemble import CompletionAssembler
from mmstack.llm.backend import ChatStream
from mmstack.llm.errors import (
    BackendFailedError,
    ImageInputNotSupportedError,
    ToolsTooLargeError,
)
from mmstack.llm.llama import Json, LlamaModel, LlamaOptions
from mmstack.llm.tool_recovery import RecoveredToolCalls, answered_calls, tool_names
from mmstack.llm.types import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from mmstack.models.registry import ModelRegistry, ModelSpec, ModelUnavailableError

log = logging.getLogger(__name__)


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class _Generation:
    """One generation on a llama thread, feeding a queue on the event loop."""

    def __init__(self, model: LlamaModel, body: Json) -> None:
        self._model = model
        self._body = body
        self._loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Json | _End] = asyncio.Queue()
        self._stopped = threading.Event()
        self._future: Future[None] | None = None

    def start(self) -> None:
        self._future = self._model.executor.submit(self._run)

    def stop(self) -> None:
        self._stopped.set()
        if self._future is not None:
            self._future.cancel()  # still queued behind other requests: never starts

    def _run(self) -> None:
        end = _End()
        try:
            if not self._stopped.is_set():
                self._model.generate(self._body, self._on_chunk)
        except Exception as exc:  # handed to the consumer, raised there
            end = _End(exc)
        self._deliver(end)

    def _on_chunk(self, data: Json) -> bool:
        if self._stopped.is_set():
            return True
        return not self._deliver(data)

    def _deliver(self, item: Json | _End) -> bool:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self._stopped.set()
            return False
        return True


class EmbeddedStream:
    def __init__(self, generation: _Generation, model_id: str) -> None:
        self._generation = generation
        self._model_id = model_id
        self._first: ChatCompletionChunk | None = None
        self._done = False

    async def open(self) -> None:
        """Waits for the first chunk, so a refused request raises before streaming starts."""
        self._first = await self.__anext__()

    def __aiter__(self) -> EmbeddedStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._done:
            raise StopAsyncIteration
        try:
            item = await self._generation.queue.get()
        except BaseException:  # cancelled: the consumer went away
            self._close()
            raise
        if isinstance(item, _End):
            self._close()
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        item["model"] = self._model_id
        try:
            return ChatCompletionChunk.model_validate(item)
        except ValidationError:
            self._close()
            raise BackendFailedError("the embedded model sent a malformed chunk") from None

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        self._done = True
        self._generation.stop()

    def __del__(self) -> None:
        self._generation.stop()


class EmbeddedBackend:
    def __init__(
        self,
        registry: ModelRegistry,
        model_ids: list[str],
        options: LlamaOptions,
        *,
        max_tool_tokens: int | None = None,
        tool_overflow: Literal["refuse", "drop"] = "refuse",
    ) -> None:
        """`max_tool_tokens`: the most a request's tool schemas may take (None: no limit);
        over it the request is refused, or with `tool_overflow` 'drop' answered without
        its tools."""
        for model_id in model_ids:
            if registry.spec(model_id).task != "llm":
                raise ModelUnavailableError(f"'{model_id}' is not a chat model", param="model")
        self._registry = registry
        self._model_ids = list(model_ids)
        self._options = options
        self._max_tool_tokens = max_tool_tokens
        self._tool_overflow = tool_overflow
        self._loaded: dict[str, LlamaModel] = {}
        # Talks to llama.cpp's own loopback listener (template rendering, tokenizing).
        self._http = httpx.AsyncClient(timeout=30)

    @property
    def name(self) -> str:
        return "embedded"

    def models(self) -> list[str]:
        return list(self._model_ids)

    async def load(self, model_id: str) -> LlamaModel:
        """The model, loaded on first use (once per process, however many backends ask)."""
        if (model := self._loaded.get(model_id)) is None:
            model = await asyncio.to_thread(
                self._registry.load, model_id, self._build, options=self._options.key()
            )
            self._loaded[model_id] = model
        return model

    def _build(self, spec: ModelSpec, paths: dict[str, Path]) -> LlamaModel:
        options = self._options
        trained = spec.options.get("context_length")
        if isinstance(trained, int) and options.context_size > trained:
            log.warning(
                "llm context size above what the model was trained on; using the model's",
                extra={"model": spec.id, "context_size": options.context_size, "trained": trained},
            )
            options = dataclasses.replace(options, context_size=trained)
        return LlamaModel(spec.id, paths["model"], options)

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        stream_options = {**(request.stream_options or {}), "include_usage": True}
        streamed = request.model_copy(update={"stream_options": stream_options})
        stream = await self.stream(streamed)
        assembler = CompletionAssembler()
        try:
            async for chunk in stream:
                assembler.add(chunk)
        finally:
            await stream.aclose()
        return assembler.completion(request.model)

    async def stream(self, request: ChatCompletionRequest) -> ChatStream:
        if request.has_images():
            raise ImageInputNotSupportedError(request.model)
        model = await self.load(request.model)
        request = await self._fit_tools(model, request)
        generation = _Generation(model, _body(request))
        stream = EmbeddedStream(generation, request.model)
        generation.start()
        try:
            await stream.open()
        except StopAsyncIteration:
            raise BackendFailedError("the embedded model ended without answering") from None
        except BaseException:
            await stream.aclose()
            raise
        names = tool_names(request.tools) if request.tool_choice != "none" else set()
        if not names:
            return stream

        async def without_tools() -> ChatStream:
            body = request.body()
            for name in ("tools", "tool_choice", "parallel_tool_calls"):
                body.pop(name, None)
            return await self.stream(ChatCompletionRequest.model_validate(body))

        answered = answered_calls(request.messages)
        return RecoveredToolCalls(stream, names, answered=answered, without_tools=without_tools)

    async def _fit_tools(
        self, model: LlamaModel, request: ChatCompletionRequest
    ) -> ChatCompletionRequest:
        """The request, if its tools fit `max_tool_tokens`; else refused, or without them."""
        limit = self._max_tool_tokens
        if not request.tools or limit is None:
            return request
        schemas = json.dumps(request.tools, separators=(",", ":"))
        tokens = len((await self._call(model, "/tokenize", {"content": schemas}))["tokens"])
        if tokens <= limit:
            return request
        if self._tool_overflow == "refuse":
            raise ToolsTooLargeError(request.model, len(request.tools), tokens, limit)
        log.info(
            "tools dropped: over llm.embedded.max_tool_tokens",
            extra={"model": request.model, "tools": len(request.tools), "tokens": tokens},
        )
        body = request.body()
        for name in ("tools", "tool_choice", "parallel_tool_calls"):
            body.pop(name, None)
        return ChatCompletionRequest.model_validate(body)

    async def context_window(self, model: str) -> int | None:
        return (await self.load(model)).context_window

    async def count_prompt_tokens(self, request: ChatCompletionRequest) -> int | None:
        if request.has_images():
            raise ImageInputNotSupportedError(request.model)
        model = await self.load(request.model)
        rendered = await self._call(model, "/apply-template", _body(request))
        tokens = await self._call(model, "/tokenize", {"content": rendered["prompt"]})
        return len(tokens["tokens"])

    async def _call(self, model: LlamaModel, path: str, body: Json) -> Any:
        response = await self._http.post(
            f"{model.base_url}{path}", json=body, headers=model.headers
        )
        if response.status_code != 200:
            raise model.error(response.json().get("error", {}))
        return response.json()

    async def ready(self) -> None:
        """In-process: ready whenever the process is (a model loads on its first request)."""

    async def aclose(self) -> None:
        # The loaded models stay: they belong to the process (see ModelRegistry.load).
        await self._http.aclose()


def _body(request: ChatCompletionRequest) -> Json:
    body = request.body()
    body.pop("model", None)  # llama.cpp serves one model per server; the name is ours
    # OpenAI's newer name for the system role; chat templates only know "system".
    for message in body["messages"]:
        if message.get("role") == "developer":
            message["role"] = "system"
    return body
