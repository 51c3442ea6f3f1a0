"""A backend that forwards to an OpenAI-compatible server (vLLM, LiteLLM, Ollama, OpenAI).

Connection failures, 429 and 5xx answers are retried with exponential backoff (honouring a
short Retry-After); a 4xx that is the request's fault is not. Retrying ends once an answer
has started: a stream that fails midway raises to its consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
from pydantic import ValidationError

from mmstack.config.settings import UpstreamSettings
from mmstack.errors import MMStackError
from mmstack.llm.errors import (
    BackendRejectedError,
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    ContextLengthExceededError,
)
from mmstack.llm.sse import Event, sse_events
from mmstack.llm.types import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
_MAX_RETRY_AFTER = 10.0
_MESSAGE_LIMIT = 500

# Closing a response is awaited in a task of its own when the consumer was cancelled, so
# the cancellation cannot interrupt it; the set keeps those tasks alive until done.
_closing: set[asyncio.Task[None]] = set()


class UpstreamBackend:
    def __init__(
        self, settings: UpstreamSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.connect_timeout,
            ),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            transport=transport,
        )

    @property
    def name(self) -> str:
        return f"upstream:{self._settings.name}"

    def models(self) -> list[str]:
        return list(self._settings.models)

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        response = await self._send(request.for_model(request.model, stream=False))
        try:
            body = await response.aread()
        except httpx.TimeoutException:
            raise _timeout(self.name, self._settings.read_timeout) from None
        except httpx.TransportError as exc:
            raise _garbage(
                self.name, f"the connection broke while reading ({type(exc).__name__})"
            ) from None
        finally:
            await response.aclose()
        try:
            return ChatCompletion.model_validate_json(body)
        except ValidationError:
            raise _garbage(self.name, "the answer is not a chat completion") from None

    async def stream(self, request: ChatCompletionRequest) -> UpstreamStream:
        response = await self._send(request.for_model(request.model, stream=True))
        stream = UpstreamStream(self.name, self._settings.read_timeout, response)
        await stream.open()
        return stream

    async def context_window(self, model: str) -> int | None:
        return self._settings.context_window

    async def count_prompt_tokens(self, request: ChatCompletionRequest) -> int | None:
        return None  # the OpenAI API has no tokenizer endpoint

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(self, request: ChatCompletionRequest) -> httpx.Response:
        """The upstream's 200 response, its body unread; retried as the module says."""
        body = request.body()
        retries = self._settings.max_retries
        for attempt in range(retries + 1):
            delay = self._settings.retry_backoff_seconds * 2**attempt
            try:
                http_request = self._client.build_request("POST", "chat/completions", json=body)
                response = await self._client.send(http_request, stream=True)
            except _RETRY_ERRORS as exc:
                if attempt == retries:
                    raise BackendUnavailableError(
                        f"{self.name} is unreachable ({type(exc).__name__})"
                    ) from None
                self._log_retry(attempt, type(exc).__name__, delay)
            except httpx.TimeoutException:
                raise _timeout(self.name, self._settings.read_timeout) from None
            except httpx.TransportError as exc:
                raise BackendUnavailableError(f"{self.name}: {type(exc).__name__}") from None
            else:
                if response.status_code == 200:
                    return response
                error = await self._error_from(response, request.model)
                if response.status_code not in _RETRY_STATUS or attempt == retries:
                    raise error
                delay = max(delay, _retry_after(response))
                self._log_retry(attempt, str(response.status_code), delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _error_from(self, response: httpx.Response, model: str) -> MMStackError:
        try:
            await response.aread()
            message, code, param = _error_details(response)
        except httpx.HTTPError:
            message, code, param = "(the error body could not be read)", None, None
        finally:
            await response.aclose()
        status = response.status_code
        where = f"{self.name} answered {status}"
        if code == "context_length_exceeded":
            return ContextLengthExceededError(None, None, model, detail=f"{where}: {message}")
        if status in (429, 503):
            return BackendUnavailableError(f"{where} (overloaded): {message}")
        if status in (408, 504):
            return BackendTimeoutError(f"{where} (timeout): {message}")
        if status in (401, 403):
            return _garbage(self.name, f"it refused mmstack's credentials ({status}): {message}")
        if status == 404:
            return _garbage(self.name, f"not found (404; check base_url and models): {message}")
        if 400 <= status < 500:
            return BackendRejectedError(f"{where}: {message}", code=code, param=param)
        return _garbage(self.name, f"status {status}: {message}")

    def _log_retry(self, attempt: int, reason: str, delay: float) -> None:
        log.warning(
            "llm upstream retry",
            extra={
                "upstream": self._settings.name,
                "attempt": attempt + 1,
                "reason": reason,
                "delay": round(delay, 3),
            },
        )


class UpstreamStream:
    """The chunks of an upstream's event stream, parsed and checked one by one."""

    def __init__(self, name: str, read_timeout: float, response: httpx.Response) -> None:
        self._name = name
        self._read_timeout = read_timeout
        self._response = response
        self._events = sse_events(response.aiter_lines())
        self._first: ChatCompletionChunk | None = None
        self._done = False

    async def open(self) -> None:
        """Reads the first chunk, so a broken stream fails before the client sees it."""
        try:
            self._first = await self.__anext__()
        except StopAsyncIteration:
            raise _garbage(self._name, "the stream ended before any chunk") from None

    def __aiter__(self) -> UpstreamStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._done:
            raise StopAsyncIteration
        try:
            event = await anext(self._events)
        except StopAsyncIteration:
            await self.aclose()
            raise
        except httpx.TimeoutException:
            await self.aclose()
            raise _timeout(self._name, self._read_timeout) from None
        except httpx.TransportError as exc:
            await self.aclose()
            raise _garbage(self._name, f"the stream broke ({type(exc).__name__})") from None
        except BaseException:  # cancelled: the consumer went away; hang up on the upstream
            self._close_soon()
            raise
        return await self._chunk(event)

    async def _chunk(self, event: Event) -> ChatCompletionChunk:
        if event.data == "[DONE]":
            await self.aclose()
            raise StopAsyncIteration
        try:
            data = json.loads(event.data)
            if event.event == "error" or (isinstance(data, dict) and "error" in data):
                raise _garbage(self._name, f"error in stream: {_message_of(data)}")
            return ChatCompletionChunk.model_validate(data)
        except (ValueError, ValidationError):
            await self.aclose()
            raise _garbage(self._name, "a streamed event is not a chunk") from None
        except BackendResponseError:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        self._done = True
        await self._response.aclose()

    def _close_soon(self) -> None:
        self._done = True
        task = asyncio.get_running_loop().create_task(self._response.aclose())
        _closing.add(task)
        task.add_done_callback(_closing.discard)


def _timeout(name: str, seconds: float) -> BackendTimeoutError:
    return BackendTimeoutError(f"{name} did not answer within {seconds:g} s")


def _garbage(name: str, detail: str) -> BackendResponseError:
    return BackendResponseError(f"{name} sent an unusable answer: {detail}")


def _error_details(response: httpx.Response) -> tuple[str, str | None, str | None]:
    try:
        data = response.json()
    except ValueError:
        return _clip(response.text) or "(no message)", None, None
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        code = error.get("code")
        param = error.get("param")
        return (
            _message_of(data),
            str(code) if isinstance(code, str) else None,
            param if isinstance(param, str) else None,
        )
    return _message_of(data), None, None


def _message_of(data: Any) -> str:
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict):
            inner = inner.get("message") or inner.get("detail") or inner
        return _clip(inner if isinstance(inner, str) else json.dumps(inner))
    return _clip(str(data))


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "…"


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("retry-after", "0"))
    except ValueError:
        return 0.0  # an HTTP date: not worth parsing for a wait this short
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
