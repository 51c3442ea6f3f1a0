"""A fast fake OpenAI-compatible upstream for `bench.gateway`, run in a process of its own:

    python -m bench.fake_upstream --port 9100

`POST /v1/chat/completions` reads and parses the JSON request and answers a fixed
chat.completion for the requested model (`ANSWER`, usage included), or, with `"stream":
true`, the same answer as an event stream: a role chunk, one chunk per word, a finish chunk,
a usage chunk when `stream_options.include_usage` asks for it, then `data: [DONE]`, each
event sent as a body part of its own. `GET /v1/models` lists `fake-model`; `GET /health`
answers 200. It is a bare ASGI app on uvicorn with uvloop and httptools, so that it is not
the bottleneck of the benchmark.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn
from starlette.types import Message, Receive, Scope, Send

ANSWER = (
    "The gateway forwarded this fixed answer from the fake upstream without changing a word "
    "of it, which the benchmark checks on every response."
)
LAST_WORD = ANSWER.rsplit(" ", 1)[-1]
USAGE = {"prompt_tokens": 24, "completion_tokens": 24, "total_tokens": 48}
CREATED = 1_700_000_000

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": USAGE,
            "system_fingerprint": None,
        }
    ).encode()


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def stream_events(model: str, usage: bool) -> list[bytes]:
    chunks = [_chunk(model, {"role": "assistant", "content": ""})]
    for n, word in enumerate(ANSWER.split(" ")):
        chunks.append(_chunk(model, {"content": word if n == 0 else " " + word}))
    chunks.append(_chunk(model, {}, "stop"))
    if usage:
        last = _chunk(model, {})
        last["choices"] = []
        last["usage"] = USAGE
        chunks.append(last)
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


class FakeUpstream:
    """The ASGI app. Answers are built once per (model, stream, usage) and kept."""

    def __init__(self) -> None:
        self._whole: dict[str, bytes] = {}
        self._streams: dict[tuple[str, bool], list[bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == "/v1/chat/completions":
            await self._chat(receive, send)
        elif method == "GET" and path == "/v1/models":
            card = {"id": "fake-model", "object": "model", "created": CREATED, "owned_by": "fake"}
            await _send(send, 200, _JSON, json.dumps({"object": "list", "data": [card]}).encode())
        elif method == "GET" and path == "/health":
            await _send(send, 200, _JSON, b'{"status":"ok"}')
        else:
            await _send(send, 404, _JSON, b'{"error":{"message":"not found","type":"bench"}}')

    async def _chat(self, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message: Message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            request = json.loads(body)
            model = str(request["model"])
            if not isinstance(request["messages"], list):
                raise TypeError("messages")
        except (ValueError, KeyError, TypeError):
            error = b'{"error":{"message":"bad request","type":"invalid_request_error"}}'
            await _send(send, 400, _JSON, error)
            return
        if not request.get("stream"):
            whole = self._whole.get(model)
            if whole is None:
                whole = self._whole[model] = completion(model)
            await _send(send, 200, _JSON, whole)
            return
        usage = bool((request.get("stream_options") or {}).get("include_usage"))
        events = self._streams.get((model, usage))
        if events is None:
            events = self._streams[(model, usage)] = stream_events(model, usage)
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start_headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        FakeUpstream(),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
