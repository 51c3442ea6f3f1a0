"""Routes a requested model name to the backends that serve it, in fallback order.

A name is an alias (configured: alias -> model ids in order) or a model id. Each model id is
served by every backend that lists it, the embedded backend first, then the upstreams in
configured order. A backend that is down, times out or answers garbage passes the request
to the next; a request the backend rejects (the client's mistake) does not, and neither
does a stream that has already started.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from mmstack.errors import MMStackError
from mmstack.llm.backend import ChatBackend, ChatStream
from mmstack.llm.errors import FALLBACK_ERRORS, UnknownModelError
from mmstack.llm.metering import MeteredStream, record_completion, record_failure
from mmstack.llm.types import ChatCompletion, ChatCompletionRequest, ModelCard
from mmstack.telemetry import span

log = logging.getLogger(__name__)

T = TypeVar("T")


class LlmConfigError(MMStackError):
    code = "invalid_llm_config"


class LlmRouter:
    def __init__(
        self,
        backends: Sequence[ChatBackend],
        aliases: Mapping[str, Sequence[str]],
        default_model: str,
    ) -> None:
        self._backends = list(backends)
        self._served: dict[str, list[ChatBackend]] = {}
        for backend in self._backends:
            for model in backend.models():
                self._served.setdefault(model, []).append(backend)
        for alias, targets in aliases.items():
            if alias in self._served:
                raise LlmConfigError(f"llm.aliases: '{alias}' is already a model id")
            unknown = [t for t in targets if t not in self._served]
            if unknown:
                raise LlmConfigError(f"llm.aliases.{alias}: no backend serves {', '.join(unknown)}")
        self._aliases = {alias: list(targets) for alias, targets in aliases.items()}
        self.default_model = default_model
        self._closed = False

    def model_ids(self) -> list[str]:
        """Every name a request may use: served model ids, then aliases."""
        return [*self._served, *self._aliases]

    def list_models(self) -> list[ModelCard]:
        cards = [
            ModelCard(id=model, owned_by=backends[0].name)
            for model, backends in self._served.items()
        ]
        cards += [ModelCard(id=alias, owned_by="alias") for alias in self._aliases]
        return cards

    def routes(self, model: str) -> list[tuple[str, ChatBackend]]:
        """(model id, backend) pairs for a requested name, in the order they are tried."""
        targets = self._aliases.get(model, [model])
        found = [(target, b) for target in targets for b in self._served.get(target, ())]
        if not found:
            raise UnknownModelError(model, self.model_ids())
        return found

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        async def call(model: str, backend: ChatBackend) -> ChatCompletion:
            started = time.perf_counter()
            with _span(model, backend, stream=False):
                done = await backend.complete(request.for_model(model, stream=False))
            record_completion(model, backend.name, started, done)
            return done

        return await self._first_success(request.model, call)

    async def stream(self, request: ChatCompletionRequest) -> ChatStream:
        """A started stream (see `ChatBackend.stream`); fallback happens only until then."""

        async def call(model: str, backend: ChatBackend) -> ChatStream:
            started = time.perf_counter()
            with _span(model, backend, stream=True):  # until the stream has started
                stream = await backend.stream(request.for_model(model, stream=True))
            return MeteredStream(stream, model, backend.name, started)

        return await self._first_success(request.model, call)

    async def context_window(self, model: str) -> int | None:
        target, backend = self.routes(model)[0]
        return await backend.context_window(target)

    async def count_prompt_tokens(self, request: ChatCompletionRequest) -> int | None:
        """The prompt's tokens for the first backend the request would go to."""
        target, backend = self.routes(request.model)[0]
        return await backend.count_prompt_tokens(request.for_model(target, stream=False))

    async def _first_success(
        self, model: str, call: Callable[[str, ChatBackend], Awaitable[T]]
    ) -> T:
        routes = self.routes(model)
        failures: list[str] = []
        for position, (target, backend) in enumerate(routes):
            try:
                return await call(target, backend)
            except FALLBACK_ERRORS as exc:
                record_failure(target, backend.name)
                failures.append(f"{backend.name} ({target}): {exc.message}")
                if position == len(routes) - 1:
                    if len(routes) == 1:
                        raise
                    # The last failure's kind (unavailable, timeout, bad answer) stands for all.
                    raise type(exc)(
                        f"every backend for '{model}' failed: " + "; ".join(failures)
                    ) from exc
                log.warning(
                    "llm fallback",
                    extra={"model": target, "backend": backend.name, "error": exc.code},
                )
            except MMStackError:  # refused: the request's own fault, not the backend's
                record_failure(target, backend.name)
                raise
        raise AssertionError("unreachable")

    async def readiness(self) -> dict[str, str]:
        """Each backend: "ok", or why it cannot take a request now."""

        async def check(backend: ChatBackend) -> str:
            try:
                await backend.ready()
            except MMStackError as exc:
                return f"error: {exc.message}"
            return "ok"

        found = await asyncio.gather(*(check(b) for b in self._backends))
        return {b.name: state for b, state in zip(self._backends, found, strict=True)}

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for backend in reversed(self._backends):
            try:
                await backend.aclose()
            except Exception:
                log.exception("closing llm backend failed", extra={"backend": backend.name})

    def close(self) -> None:
        """For owners without an event loop (the CLI): closes on a loop of its own. Inside a
        running loop, await `aclose()` instead; closing twice does nothing."""
        if self._closed:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.aclose())
            return
        # Called from inside a running loop (an app whose start-up failed unwinds its
        # resources synchronously): close on a loop of another thread, so the start-up's
        # own error is the one reported.
        closer = threading.Thread(target=asyncio.run, args=(self.aclose(),), daemon=True)
        closer.start()
        closer.join(timeout=30)


def _span(model: str, backend: ChatBackend, *, stream: bool) -> AbstractContextManager[Any]:
    return span(
        "llm chat",
        {
            "gen_ai.request.model": model,
            "mmstack.llm.backend": backend.name,
            "mmstack.llm.stream": stream,
        },
    )
