"""A small OpenAI-compatible server on 127.0.0.1 for the upstream and API tests: real HTTP,
real SSE. The `fake_upstream` and `dead_url` fixtures are shared through conftest imports.

What it does depends on the requested model:

- `echo`: answers "echo: <last user message>", streamed word by word when asked;
- `flaky`: 503 for the first two attempts of each `user`, then like `echo`;
- `ratelimited`: always 429 with `Retry-After: 0`;
- `slow`: like `echo` after a one-second pause;
- `garbage`: 200 with an HTML page (an event stream of broken JSON when streamed);
- `reject`: 400 with an OpenAI-shaped error about `tools`;
- `too-long`: 400 with code `context_length_exceeded`;
- `endless`: streams a chunk every 20 ms until the client hangs up;
- `midway`: streams two chunks, then an error event;
- `stall`: streams one chunk, then nothing for 10 s (until the client hangs up);
- `cut`: streams one chunk, then drops the connection (the body left unfinished);
- `pieces`: like `echo` streamed, with CRLF line ends, cut into 7-byte writes;
- `inline-error`: streams one chunk, then `data: {"error": ...}` (no event name);
- `chunk-error`: streams one chunk, then a chunk that also carries an `error`;
- `tools`: calls the first tool of the request with `{"city": "Paris"}` (streamed in parts);
- `agent`: like `tools` until the last message is a tool's result, then answers
  "done: <that result>" (not streamed);
- anything else: like `echo`; asked for JSON `notes` (memory extraction), it notes the
  user's message as it is.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

API_KEY = "sk-fake-upstream-key"


class FakeUpstream:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.hung_up = threading.Event()
        self.peers: list[tuple[str, int]] = []  # the client's address, one per request
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, args=([sock],), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "fake upstream did not start"
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def attempts_of(self, model: str, user: str) -> int:
        return self.attempts[(model, user)]

    def open_peers(self) -> set[tuple[str, int]]:
        """The client addresses of the connections the server has open right now."""
        assert self._server is not None
        connections = list(self._server.server_state.connections)  # the server's thread adds
        return {client for c in connections if (client := getattr(c, "client", None))}

    def wait_closed(self, peer: tuple[str, int], seconds: float = 10) -> bool:
        """Whether the server saw the connection from `peer` close within `seconds`."""
        deadline = time.monotonic() + seconds
        while peer in self.open_peers():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    async def _chat(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid api key", "invalid_api_key")
        body = await request.json()
        self.bodies.append(body)
        if request.client is not None:
            self.peers.append((request.client.host, request.client.port))
        model, user = body["model"], body.get("user", "")
        self.attempts[(model, user)] += 1
        stream = bool(body.get("stream"))
        if model == "flaky" and self.attempts[(model, user)] <= 2:
            return _error(503, "warming up", None)
        if model == "ratelimited":
            return _error(429, "slow down", "rate_limit_exceeded", {"Retry-After": "0"})
        if model == "slow":
            await asyncio.sleep(1.0)
        if model == "garbage":
            if stream:
                return Response(b"data: {not json\n\n", media_type="text/event-stream")
            return PlainTextResponse("<html>oops</html>")
        if model == "reject":
            return _error(400, "tools[0] has no function", "invalid_tools", param="tools")
        if model == "too-long":
            return _error(400, "too many tokens: 9000 > 4096", "context_length_exceeded")
        if model == "endless":
            return StreamingResponse(self._endless(), media_type="text/event-stream")
        if model == "midway" and stream:
            return StreamingResponse(_midway_events(), media_type="text/event-stream")
        if model == "stall":
            return StreamingResponse(_stall_events(), media_type="text/event-stream")
        if model == "cut":
            return StreamingResponse(_cut_events(), media_type="text/event-stream")
        if model in ("inline-error", "chunk-error"):
            return StreamingResponse(_error_events(model), media_type="text/event-stream")
        if model == "pieces":
            events = _echo_events(model, "echo: " + _last_user_text(body), False)
            return StreamingResponse(_in_pieces(events), media_type="text/event-stream")
        if model == "agent" and body["messages"][-1]["role"] == "tool":
            return JSONResponse(_completion(model, "done: " + body["messages"][-1]["content"]))
        if model in ("tools", "agent"):
            name = body["tools"][0]["function"]["name"]
            if stream:
                return StreamingResponse(_tool_call_events(name), media_type="text/event-stream")
            return JSONResponse(_tool_call_completion(name))
        schema = (body.get("response_format") or {}).get("json_schema") or {}
        if schema.get("name") == "notes":
            said = _last_user_text(body).rsplit("The user's message:\n", 1)[-1]
            note = {"text": said, "kind": "fact"}
            return JSONResponse(_completion(model, json.dumps({"notes": [note]})))
        text = "echo: " + _last_user_text(body)
        if stream:
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _echo_events(model, text, usage), media_type="text/event-stream"
            )
        return JSONResponse(_completion(model, text))

    async def _endless(self) -> AsyncIterator[bytes]:
        try:
            n = 0
            while True:
                yield _event(_chunk("endless", {"content": f"{n} "}))
                n += 1
                await asyncio.sleep(0.02)
        finally:
            self.hung_up.set()


def _error(
    status: int,
    message: str,
    code: str | None,
    headers: dict[str, str] | None = None,
    *,
    param: str | None = None,
) -> JSONResponse:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body["messages"] if m["role"] == "user"]
    content = users[-1].get("content") if users else None  # a chat may have no user turn
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        "x_served_by": "fake",
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        "x_served_by": "fake",
    }


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


async def _echo_events(model: str, text: str, usage: bool) -> AsyncIterator[bytes]:
    yield b": keep-alive comment\n\n"
    yield _event(_chunk(model, {"role": "assistant", "content": ""}))
    for n, word in enumerate(text.split(" ")):
        yield _event(_chunk(model, {"content": word if n == 0 else " " + word}))
    yield _event(_chunk(model, {}, "stop"))
    if usage:
        last = _chunk(model, {})
        last["choices"] = []
        last["usage"] = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        yield _event(last)
    yield b"data: [DONE]\n\n"


async def _midway_events() -> AsyncIterator[bytes]:
    yield _event(_chunk("midway", {"role": "assistant", "content": "Once"}))
    yield _event(_chunk("midway", {"content": " upon"}))
    yield b'event: error\ndata: {"error": {"message": "upstream crashed"}}\n\n'


async def _stall_events() -> AsyncIterator[bytes]:
    yield _event(_chunk("stall", {"role": "assistant", "content": "Once"}))
    await asyncio.sleep(10)
    yield b"data: [DONE]\n\n"


async def _cut_events() -> AsyncIterator[bytes]:
    yield _event(_chunk("cut", {"role": "assistant", "content": "Once"}))
    await asyncio.sleep(0.05)
    raise ConnectionAbortedError("the fake upstream drops the connection")


async def _error_events(model: str) -> AsyncIterator[bytes]:
    yield _event(_chunk(model, {"role": "assistant", "content": "Once"}))
    error = {"message": "overloaded", "type": "server_error"}
    if model == "chunk-error":
        yield _event({**_chunk(model, {"content": " upon"}), "error": error})
    else:
        yield _event({"error": error})


async def _in_pieces(events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    body = b"".join([event async for event in events]).replace(b"\n", b"\r\n")
    for start in range(0, len(body), 7):
        yield body[start : start + 7]
        await asyncio.sleep(0)


TOOL_ARGUMENTS = '{"city": "Paris"}'


def _tool_call_completion(name: str) -> dict[str, Any]:
    completion = _completion("tools", "")
    function = {"name": name, "arguments": TOOL_ARGUMENTS}
    call = {"id": "call_1", "type": "function", "function": function}
    choice = completion["choices"][0]
    choice["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    choice["finish_reason"] = "tool_calls"
    return completion


async def _tool_call_events(name: str) -> AsyncIterator[bytes]:
    function = {"name": name, "arguments": ""}
    opening = {"index": 0, "id": "call_1", "type": "function", "function": function}
    yield _event(_chunk("tools", {"role": "assistant", "content": None, "tool_calls": [opening]}))
    half = len(TOOL_ARGUMENTS) // 2
    for part in (TOOL_ARGUMENTS[:half], TOOL_ARGUMENTS[half:]):
        call = {"index": 0, "function": {"arguments": part}}
        yield _event(_chunk("tools", {"tool_calls": [call]}))
    yield _event(_chunk("tools", {}, "tool_calls"))
    yield b"data: [DONE]\n\n"


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream()
    server.start()
    yield server
    server.stop()


def unused_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def dead_url() -> str:
    return unused_url()
