"""A backend that forwards to an OpenAI-compatible server (vLLM, LiteLLM, Ollama, OpenAI).

Each upstream has one aiohttp session (keep-alive connections), opened on its first request
inside the running event loop and closed by `aclose`. Connection failures, 429 and 5xx
answers are retried with exponential backoff (honouring a short Retry-After); a 4xx that is
the request's fault is not. Retrying ends once an answer has started: a stream that fails
midway raises to its consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections import deque
from typing import Any

import aiohttp
import certifi
from aiohttp.helpers import get_env_proxy_for_url
from multidict import CIMultiDictProxy
from pydantic import ValidationError
from yarl import URL

from mmstack.config.settings import UpstreamSettings
from mmstack.errors import MMStackError
from mmstack.llm.errors import (
    BackendRejectedError,
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    ContextLengthExceededError,
)
from mmstack.llm.sse import Event
from mmstack.llm.sse_decoder import SseDecoder
from mmstack.llm.types import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# Refused, unresolvable or slow to connect, or a kept-alive connection the server had closed.
_RETRY_ERRORS = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.ServerDisconnectedError,
)
_MAX_RETRY_AFTER = 10.0
_MESSAGE_LIMIT = 500
_MAX_CONNECTIONS = 256
# Idle connections are dropped before uvicorn's (vLLM's) 5 s keep-alive ends, so a request
# rarely meets a connection the server is closing.
_KEEPALIVE_SECONDS = 4.0


class UpstreamBackend:
    def __init__(self, settings: UpstreamSettings, *, transport: object = None) -> None:
        if transport is not None:  # `open_llm`'s httpx seam: nothing passes one any more
            raise TypeError("UpstreamBackend speaks HTTP through aiohttp, not an httpx transport")
        self._settings = settings
        self._url = URL(settings.base_url.rstrip("/") + "/chat/completions")
        self._headers = {"Content-Type": "application/json"}
        if settings.api_key is not None:
            self._headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.connect_timeout,  # a free connection from the pool, or a new one
            sock_connect=settings.connect_timeout,
            sock_read=settings.read_timeout,  # the longest wait for the next bytes
        )
        self._http: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def name(self) -> str:
        return f"upstream:{self._settings.name}"

    def models(self) -> list[str]:
        return list(self._settings.models)

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        response = await self._send(request.for_model(request.model, stream=False))
        try:
            body = await response.read()  # closes the connection if it fails
        except TimeoutError:
            raise _timeout(self.name, self._settings.read_timeout) from None
        except aiohttp.ClientError as exc:
            raise _garbage(
                self.name, f"the connection broke while reading ({type(exc).__name__})"
            ) from None
        finally:
            response.release()
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

    async def ready(self) -> None:
        """The server answers its model list (`GET /models`) within the connect timeout."""
        url = self._url.parent / "models"
        limit = aiohttp.ClientTimeout(total=self._settings.connect_timeout)
        try:
            async with self._session().get(url, headers=self._headers, timeout=limit) as answer:
                if answer.status >= 500:
                    raise BackendUnavailableError(f"{self.name}: GET /models gave {answer.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            unreachable = f"{self.name} is unreachable ({type(exc).__name__})"
            raise BackendUnavailableError(unreachable) from None

    async def aclose(self) -> None:
        self._closed = True
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is not None:
            return self._http
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        ssl_context: ssl.SSLContext | bool = True
        if self._url.scheme == "https" and not (
            os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")
        ):
            # The CA bundle httpx (this client's predecessor) trusted: certifi's.
            ssl_context = ssl.create_default_context(cafile=certifi.where())
        try:  # HTTP(S)_PROXY and NO_PROXY, read once rather than on every request
            proxy, proxy_auth = get_env_proxy_for_url(self._url)
        except LookupError:
            proxy, proxy_auth = None, None
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=_MAX_CONNECTIONS, keepalive_timeout=_KEEPALIVE_SECONDS, ssl=ssl_context
            ),
            headers=self._headers,
            timeout=self._timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
            proxy=proxy,
            proxy_auth=proxy_auth,
        )
        return self._http

    async def _send(self, request: ChatCompletionRequest) -> aiohttp.ClientResponse:
        """The upstream's 200 response, its body unread; retried as the module says."""
        # What the client sent (unknown fields too), no defaults: `request.body()`, as bytes.
        body = request.model_dump_json(exclude_unset=True).encode()
        session = self._session()
        retries = self._settings.max_retries
        for attempt in range(retries + 1):
            delay = self._settings.retry_backoff_seconds * 2**attempt
            try:
                response = await session.post(self._url, data=body, allow_redirects=False)
            except _RETRY_ERRORS as exc:
                if attempt == retries:
                    raise BackendUnavailableError(
                        f"{self.name} is unreachable ({type(exc).__name__})"
                    ) from None
                self._log_retry(attempt, type(exc).__name__, delay)
            except TimeoutError:
                raise _timeout(self.name, self._settings.read_timeout) from None
            except aiohttp.ClientResponseError as exc:  # not HTTP, or HTTP beyond repair
                raise _garbage(
                    self.name, f"malformed HTTP ({' '.join(exc.message.split())})"
                ) from None
            except aiohttp.ClientError as exc:
                raise BackendUnavailableError(f"{self.name}: {type(exc).__name__}") from None
            else:
                if response.status == 200:
                    return response
                error = await self._error_from(response, request.model)
                if response.status not in _RETRY_STATUS or attempt == retries:
                    raise error
                delay = max(delay, _retry_after(response.headers))
                self._log_retry(attempt, str(response.status), delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _error_from(self, response: aiohttp.ClientResponse, model: str) -> MMStackError:
        try:
            message, code, param = _error_details(await response.read())
        except (aiohttp.ClientError, TimeoutError):
            message, code, param = "(the error body could not be read)", None, None
        finally:
            response.release()
        status = response.status
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

    def __init__(self, name: str, read_timeout: float, response: aiohttp.ClientResponse) -> None:
        self._name = name
        self._read_timeout = read_timeout
        self._response = response
        self._decoder = SseDecoder()
        self._events: deque[Event] = deque()
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
        while not self._events:
            try:
                data = await self._response.content.readany()
            except TimeoutError:
                self._close()
                raise _timeout(self._name, self._read_timeout) from None
            except aiohttp.ClientError as exc:
                self._close()
                raise _garbage(self._name, f"the stream broke ({type(exc).__name__})") from None
            except BaseException:  # cancelled: the consumer went away; hang up on the upstream
                self._close()
                raise
            if not data:  # the body ended, with or without `[DONE]`
                self._events.extend(self._decoder.end())
                if not self._events:
                    self._close()
                    raise StopAsyncIteration
                break
            self._events.extend(self._decoder.feed(data))
        return self._chunk(self._events.popleft())

    def _chunk(self, event: Event) -> ChatCompletionChunk:
        data = event.data
        if data == "[DONE]":
            self._close()
            raise StopAsyncIteration
        try:
            if event.event == "error":
                raise _garbage(self._name, f"error in stream: {_message_of(json.loads(data))}")
            # One pass of pydantic's JSON parser; an error object is not a chunk, and one
            # that has a chunk's fields keeps its `error` among the extras.
            chunk = ChatCompletionChunk.model_validate_json(data)
            if chunk.model_extra and "error" in chunk.model_extra:
                raise _garbage(self._name, f"error in stream: {_message_of(json.loads(data))}")
        except (ValueError, ValidationError):
            self._close()
            raise self._not_a_chunk(data) from None
        except BackendResponseError:
            self._close()
            raise
        return chunk

    def _not_a_chunk(self, data: str) -> BackendResponseError:
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "error" in parsed:
            return _garbage(self._name, f"error in stream: {_message_of(parsed)}")
        return _garbage(self._name, "a streamed event is not a chunk")

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        """Ends the stream: its connection goes back to the pool when the body was read to
        its end, and is closed (hanging up on the upstream) when it was not."""
        self._done = True
        self._response.release()


def _timeout(name: str, seconds: float) -> BackendTimeoutError:
    return BackendTimeoutError(f"{name} did not answer within {seconds:g} s")


def _garbage(name: str, detail: str) -> BackendResponseError:
    return BackendResponseError(f"{name} sent an unusable answer: {detail}")


def _error_details(body: bytes) -> tuple[str, str | None, str | None]:
    try:
        data = json.loads(body)
    except ValueError:
        return _clip(body.decode(errors="replace")) or "(no message)", None, None
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


def _retry_after(headers: CIMultiDictProxy[str]) -> float:
    try:
        seconds = float(headers.get("Retry-After", "0"))
    except ValueError:
        return 0.0  # an HTTP date: not worth parsing for a wait this short
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
