"""Bounds on what a client may send: a body's size (refused from `Content-Length` before a
byte is read, and counted while it streams in), its pace (a body that stalls is answered
408), and, in JSON, text that is Unicode (an escaped lone surrogate is no character any
parser, tokenizer or database downstream can take)."""

from __future__ import annotations

import asyncio
import json
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mmstack.api.errors import error_body

# An escaped UTF-16 pair, or an escaped surrogate on its own.
_SURROGATE_ESCAPE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


def has_lone_surrogate(body: bytes) -> bool:
    """Whether a JSON text escapes half of a UTF-16 surrogate pair on its own."""
    if b"\\u" not in body:
        return False
    for match in _SURROGATE_ESCAPE.finditer(body):
        # After an odd run of backslashes this one is a literal character, no escape.
        real = _backslashes_before(body, match.start()) % 2 == 0
        if len(match.group()) == 12:
            if real:
                continue
            return True  # the first half is literal text; the second is a lone low half
        if real:
            return True
    return False


def _backslashes_before(body: bytes, position: int) -> int:
    count = 0
    while position - count - 1 >= 0 and body[position - count - 1] == 0x5C:
        count += 1
    return count


class _BodyRefusedError(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class RequestLimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        body_idle_seconds: float,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.body_idle_seconds = body_idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "").lower()
        upload = content_type.startswith("multipart/")
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, _too_large(int(declared), limit, upload))
            return
        is_json = "json" in content_type.partition(";")[0]
        refused: _BodyRefusedError | None = None
        started = body_done = False
        received = 0

        async def read() -> Message:
            nonlocal refused, received, body_done
            if refused is not None:
                raise refused
            if body_done:
                return await receive()  # only a disconnect is left to wait for
            try:
                message = await asyncio.wait_for(receive(), self.body_idle_seconds)
            except TimeoutError:
                refused = _BodyRefusedError(
                    408,
                    f"the request body stalled: nothing arrived for {self.body_idle_seconds:g} s",
                    "request_timeout",
                )
                raise refused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = _too_large(received, limit, upload, streamed=True)
                    raise refused
                body_done = not message.get("more_body", False)
            return message

        async def read_json() -> Message:
            """The whole JSON body at once (the app reads it whole anyway), checked."""
            nonlocal refused
            chunks = []
            while True:
                message = await read()
                if message["type"] != "http.request":
                    return message
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            if has_lone_surrogate(body):
                refused = _BodyRefusedError(
                    400,
                    "the request holds text that is not valid Unicode (an escaped lone "
                    "surrogate such as \\ud800)",
                    "invalid_text",
                )
                raise refused
            return {"type": "http.request", "body": body, "more_body": False}

        async def receive_checked() -> Message:
            return await (read_json() if is_json and not body_done else read())

        async def send_unless_refused(message: Message) -> None:
            nonlocal started
            if refused is not None:
                return  # the app's own answer to a body it could not read goes nowhere
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_checked, send_unless_refused)
        except Exception:
            if refused is None or started:
                raise
        if refused is not None and not started:
            await _refuse(send, refused)


def _too_large(size: int, limit: int, upload: bool, *, streamed: bool = False) -> _BodyRefusedError:
    setting = "http.max_upload_bytes" if upload else "http.max_body_bytes"
    size_text = f"over {limit:,} bytes" if streamed else f"{size:,} bytes"
    return _BodyRefusedError(
        413,
        f"the request body is {size_text}, over the limit of {limit:,} bytes ({setting})",
        "request_too_large",
    )


async def _refuse(send: Send, refused: _BodyRefusedError) -> None:
    body = json.dumps(error_body(refused.message, "invalid_request_error", code=refused.code))
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
