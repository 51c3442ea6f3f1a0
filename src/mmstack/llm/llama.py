"""One GGUF chat model loaded into llama.cpp's server, inside this process (`xllamacpp`).

Generation goes through the server's chat-completions handler, which applies the model's
jinja chat template (tools included) and parses tool calls back out. The handler blocks
until the answer is done, so it runs on a thread pool of the model's own, one thread per
slot. llama.cpp also opens an HTTP listener on a random loopback port; it is locked with a
random key and only used for what the handler API lacks: rendering the chat template and
tokenizing (to count prompt tokens) and reading the real context window.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mmstack.errors import MMStackError
from mmstack.llm.errors import (
    BackendFailedError,
    BackendRejectedError,
    ContextLengthExceededError,
)

if TYPE_CHECKING:
    import xllamacpp

log = logging.getLogger(__name__)

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LlamaOptions:
    context_size: int = 8192
    parallel: int = 1
    threads: int | None = None
    batch_size: int = 512

    def key(self) -> tuple[object, ...]:
        return ("llama", self.context_size, self.parallel, self.threads, self.batch_size)


class LlamaModel:
    def __init__(self, model_id: str, path: Path, options: LlamaOptions) -> None:
        self.model_id = model_id
        self._api_key = secrets.token_urlsafe(32)
        import xllamacpp  # llama.cpp itself: loaded with the first model (16 MB)

        started = time.perf_counter()
        self._server = xllamacpp.Server(_params(path, options, self._api_key))
        self.base_url: str = self._server.listening_address
        self.headers = {"Authorization": f"Bearer {self._api_key}"}
        props = httpx.get(f"{self.base_url}/props", headers=self.headers, timeout=30).json()
        self.context_window: int = int(props["default_generation_settings"]["n_ctx"])
        self.executor = ThreadPoolExecutor(options.parallel, thread_name_prefix="llama")
        self._generating = 0
        self._count_lock = threading.Lock()
        log.info(
            "llm model loaded",
            extra={
                "model": model_id,
                "seconds": round(time.perf_counter() - started, 2),
                "context_window": self.context_window,
            },
        )

    @property
    def generating(self) -> int:
        """Generations running now (for metrics, and to see that a stopped one ended)."""
        return self._generating

    def generate(self, body: Json, on_chunk: Callable[[Json], bool]) -> None:
        """Streams the completion of `body` into `on_chunk` until it returns True or the
        answer ends; blocks meanwhile. Stopping early cancels llama.cpp's task."""
        with self._count_lock:
            self._generating += 1
        try:
            self._generate(body, on_chunk)
        finally:
            with self._count_lock:
                self._generating -= 1

    def _generate(self, body: Json, on_chunk: Callable[[Json], bool]) -> None:
        failure: list[Json] = []

        def receive(data: Json) -> bool:
            if "error" in data:
                failure.append(data["error"])
                return True
            return on_chunk(data)

        try:
            self._server.handle_chat_completions({**body, "stream": True}, receive)
        except RuntimeError as exc:  # raised before generation, for requests it cannot take
            raise BackendRejectedError(str(exc)) from exc
        if failure:
            raise self.error(failure[0])

    def error(self, error: Json) -> MMStackError:
        """The exception for an error object of llama.cpp's."""
        message = str(error.get("message") or "the embedded model failed")
        if error.get("type") == "exceed_context_size_error":
            return ContextLengthExceededError(
                _int(error.get("n_prompt_tokens")), _int(error.get("n_ctx")), self.model_id
            )
        if error.get("code") == 400 or error.get("type") == "invalid_request_error":
            return BackendRejectedError(message)
        log.error("llm model error", extra={"model": self.model_id, "error": json.dumps(error)})
        return BackendFailedError(f"the embedded model failed: {message}")


def _params(path: Path, options: LlamaOptions, api_key: str) -> xllamacpp.CommonParams:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    # Each slot gets an equal share of the context, so the window per request is
    # `context_size` whatever the number of slots.
    params.n_ctx = options.context_size * options.parallel
    params.n_parallel = options.parallel
    params.n_batch = options.batch_size
    params.n_ubatch = min(options.batch_size, 512)
    if options.threads:
        params.cpuparams.n_threads = options.threads
        params.cpuparams_batch.n_threads = options.threads
    params.api_keys = [api_key]
    params.ui = False
    params.endpoint_slots = False
    params.endpoint_metrics = False
    params.verbosity = 0
    return params


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None
