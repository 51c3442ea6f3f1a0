#!/usr/bin/env python3
# Longer than 400 lines: one standalone script, so that a container runs it as one file.
"""A stand-in for the OpenAI-compatible model servers of the `inference` stack (vLLM, and
LiteLLM in front of it), for the compose smoke test (scripts/deploy_smoke.py) only.

No model can run where the smoke test runs, and a remote LLM is the one external boundary
of a deployment: this speaks the protocol the real servers speak, with their command lines,
keys and health paths, and answers as a model asked mmstack's prompts would. Run as the
executables the compose commands name (symlinks to this file), or with the mode first:

    vllm serve MODEL --served-model-name NAME [NAME ...] --port 8000 [--api-key KEY]
    litellm --model hosted_vllm/NAME --alias ALIAS --api_base URL --port 4000
    python tests/standins/openai_upstream.py vllm|litellm ARGS...

Unknown options are accepted and ignored, so a real command line runs as it is.

`vllm` serves `GET /health` (no key), `GET /v1/models` and `POST /v1/chat/completions`
(whole or streamed, with `logprobs`/`top_logprobs` and `stream_options.include_usage`). The
key is `--api-key`, else `VLLM_API_KEY`; a request without it is a 401, one for a model
it does not serve a 404, as from vLLM. What it answers, from the last user message:

- mmstack's yes/no checks (the message ends with "Reply with only YES or NO."): `YES` when
  a numbered passage (`[1] ...`) or a quoted text (`Text (from ...)`) is given, else `NO`,
  with log-probabilities when asked;
- mmstack's follow-up rewrite (ends with "The last message as a standalone question:"):
  the conversation's last user line, unchanged;
- otherwise the first sentence of the first numbered passage (mmstack numbers passages
  `[1] <source>` followed by the text, see mmstack.answer.prompts) followed by ` [1]`, or,
  with no passage, `NO_PASSAGE`.

`litellm` serves `GET /health/liveliness` and `/health/readiness` (no key), `GET
/v1/models` (the alias) and `POST /v1/chat/completions` (also without `/v1`), which it
forwards to `--api_base` for the model `--alias` (or the `--model` itself), as the model
named after `hosted_vllm/`, with `HOSTED_VLLM_API_KEY`. Its clients need
`LITELLM_MASTER_KEY` when that is set.

A key variable that is set but empty stops the server at start: the compose file sets it
from a secret file (`export X="$(cat /run/secrets/...)"`), so an empty one means that file
could not be read, which a real server would not report.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

YES_NO = "Reply with only YES or NO."
STANDALONE = "The last message as a standalone question:"
NO_PASSAGE = "I have no passages to answer from."
MAX_MODEL_LEN = 32768
_PASSAGE = re.compile(r"^\[1\] [^\n]*\n(.*?)(?=\n\n\[2\] |\n\nQuestion: |\Z)", re.M | re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")

log = logging.getLogger("openai_upstream")


# The model: what it answers.


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    return _SENTENCE_END.split(flat, maxsplit=1)[0]


def reply(messages: Sequence[dict[str, Any]]) -> str:
    """What the model answers to `messages` (see the module's docstring)."""
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    last = users[-1].strip() if users else ""
    if last.endswith(YES_NO):
        has_text = _PASSAGE.search(last) is not None or "Text (from " in last
        return "YES" if has_text else "NO"
    if last.endswith(STANDALONE):
        asked = [line[6:] for line in last.splitlines() if line.startswith("User: ")]
        return asked[-1].strip() if asked else ""
    passage = _PASSAGE.search(last)
    if passage is None or not passage.group(1).strip():
        return NO_PASSAGE
    return f"{first_sentence(passage.group(1))} [1]"


def tokens(text: str) -> list[str]:
    """Words as tokens: each with the space before it."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _logprob_entry(token: str, answer: str, top: int) -> dict[str, Any]:
    if answer in ("YES", "NO"):
        chosen, other = answer, "NO" if answer == "YES" else "YES"
        candidates = [(chosen, -0.02), (other, -4.0)]
    else:
        candidates = [(token, -0.05)]
    entry: dict[str, Any] = {
        "token": token,
        "logprob": candidates[0][1],
        "bytes": list(token.encode()),
        "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in candidates[:top]
        ],
    }
    return entry


@dataclass
class Answer:
    model: str
    text: str
    pieces: list[str]
    finish_reason: str
    prompt_tokens: int
    logprobs: bool
    top_logprobs: int
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def to(cls, body: dict[str, Any], model: str) -> Answer:
        messages = body["messages"]
        text = reply(messages)
        pieces = tokens(text)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and 0 < limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        prompt = sum(len(message_text(m).split()) for m in messages)
        top = body.get("top_logprobs") or 0
        return cls(
            model, "".join(pieces), pieces, finish, prompt, bool(body.get("logprobs")), int(top)
        )

    def usage(self) -> dict[str, int]:
        done = len(self.pieces)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": done,
            "total_tokens": self.prompt_tokens + done,
        }

    def _logprobs(self, pieces: Sequence[str]) -> dict[str, Any] | None:
        if not self.logprobs:
            return None
        return {"content": [_logprob_entry(p, self.text, self.top_logprobs) for p in pieces]}

    def whole(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.text, "tool_calls": []},
                    "logprobs": self._logprobs(self.pieces),
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage(),
        }

    def _chunk(self, delta: dict[str, Any], **choice: Any) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, **choice}],
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()

    def events(self, include_usage: bool) -> list[bytes]:
        events = [self._chunk({"role": "assistant", "content": ""}, finish_reason=None)]
        for piece in self.pieces:
            events.append(
                self._chunk(
                    {"content": piece}, logprobs=self._logprobs([piece]), finish_reason=None
                )
            )
        events.append(self._chunk({}, finish_reason=self.finish_reason))
        if include_usage:
            last = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.usage(),
            }
            events.append(f"data: {json.dumps(last)}\n\n".encode())
        events.append(b"data: [DONE]\n\n")
        return events


# Keys and errors.


def key_from_env(name: str) -> str | None:
    """The key in `name`; None when it is not set; a set but empty one stops the server."""
    value = os.environ.get(name)
    if value is None:
        return None
    if not value.strip():
        sys.exit(
            f"error: {name} is set but empty: the secret file it is read from "
            "(/run/secrets/...) was not readable by this user "
            f"(uid {os.getuid()}, gid {os.getgid()})"
        )
    return value.strip()


def authorized(request: Request, key: str | None) -> bool:
    if key is None:
        return True
    header = request.headers.get("authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return hmac.compare_digest(given.encode(), key.encode())


def openai_error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    error = {"message": message, "type": kind, "param": None, "code": code or str(status)}
    return JSONResponse({"error": error}, status_code=status)


async def json_body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return openai_error(400, "the body is not JSON", "BadRequestError")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return openai_error(400, "messages: a list is required", "BadRequestError")
    if not isinstance(body.get("model"), str):
        return openai_error(400, "model: a string is required", "BadRequestError")
    return body


def model_list(names: Sequence[str], owner: str) -> dict[str, Any]:
    created = int(time.time())
    data = [
        {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": owner,
            "max_model_len": MAX_MODEL_LEN,
        }
        for name in names
    ]
    return {"object": "list", "data": data}


# vLLM.


def vllm_app(served: Sequence[str], key: str | None) -> Starlette:
    async def health(request: Request) -> Response:
        return Response(status_code=200)

    async def models(request: Request) -> Response:
        if not authorized(request, key):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return JSONResponse(model_list(served, "vllm"))

    async def chat(request: Request) -> Response:
        if not authorized(request, key):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        if body["model"] not in served:
            message = f"The model `{body['model']}` does not exist."
            return openai_error(404, message, "NotFoundError", "404")
        answer = Answer.to(body, body["model"])
        log.info("answered %r", answer.text[:120])
        if not body.get("stream"):
            return JSONResponse(answer.whole())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            for event in answer.events(include_usage):
                yield event

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


# LiteLLM.


@dataclass(frozen=True)
class LitellmRoute:
    alias: str
    model: str  # as LiteLLM names it: hosted_vllm/NAME
    api_base: str
    master_key: str | None
    upstream_key: str | None

    @property
    def upstream_model(self) -> str:
        return self.model.split("/", 1)[1] if "/" in self.model else self.model


def litellm_app(route: LitellmRoute) -> Starlette:
    client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal client
        client = httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10), trust_env=False)
        try:
            yield
        finally:
            await client.aclose()

    def refused() -> JSONResponse:
        message = "Authentication Error, Invalid proxy server token passed."
        return openai_error(401, message, "auth_error", "401")

    async def liveliness(request: Request) -> Response:
        return JSONResponse("I'm alive!")

    async def readiness(request: Request) -> Response:
        return JSONResponse({"status": "healthy", "db": "Not connected"})

    async def models(request: Request) -> Response:
        if not authorized(request, route.master_key):
            return refused()
        return JSONResponse(model_list([route.alias], "openai"))

    async def chat(request: Request) -> Response:
        if not authorized(request, route.master_key):
            return refused()
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        asked = body["model"]
        if asked not in (route.alias, route.model):
            message = f"Invalid model name passed in model={asked}. Call `/v1/models`."
            return openai_error(400, message, "invalid_request_error", "400")
        assert client is not None
        headers = {"Content-Type": "application/json"}
        if route.upstream_key is not None:
            headers["Authorization"] = f"Bearer {route.upstream_key}"
        url = route.api_base.rstrip("/") + "/chat/completions"
        forwarded = {**body, "model": route.upstream_model}
        try:
            sent = client.build_request("POST", url, json=forwarded, headers=headers)
            upstream = await client.send(sent, stream=True)
        except httpx.HTTPError as exc:
            return openai_error(502, f"the upstream {url} failed: {exc!r}", "APIConnectionError")
        if upstream.status_code != 200 or not body.get("stream"):
            content = await upstream.aread()
            await upstream.aclose()
            if upstream.status_code == 200:
                whole = json.loads(content)
                whole["model"] = asked
                return JSONResponse(whole)
            kind = upstream.headers.get("content-type", "application/json")
            return Response(content, status_code=upstream.status_code, media_type=kind)
        return StreamingResponse(
            upstream.aiter_raw(),
            media_type="text/event-stream",
            background=BackgroundTask(upstream.aclose),
        )

    return Starlette(
        routes=[
            Route("/health/liveliness", liveliness, methods=["GET"]),
            Route("/health/readiness", readiness, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/chat/completions", chat, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


# Command lines.


def serve(app: Starlette, host: str, port: int, what: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    log.info("%s stand-in on %s:%d", what, host, port)
    uvicorn.run(app, host=host, port=port, log_level="info")


def run_vllm(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="vllm", description="vLLM stand-in")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("model")
    parser.add_argument("--served-model-name", nargs="+")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key")
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        log.warning("ignored: %s", ignored)
    key = args.api_key or key_from_env("VLLM_API_KEY")
    served = args.served_model_name or [args.model]
    serve(vllm_app(served, key), args.host, args.port, f"vLLM ({', '.join(served)})")


def run_litellm(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="litellm", description="LiteLLM stand-in")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias")
    parser.add_argument("--api_base", required=True)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=4000)
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        log.warning("ignored: %s", ignored)
    route = LitellmRoute(
        alias=args.alias or args.model,
        model=args.model,
        api_base=args.api_base,
        master_key=key_from_env("LITELLM_MASTER_KEY"),
        upstream_key=key_from_env("HOSTED_VLLM_API_KEY"),
    )
    what = f"LiteLLM ({route.alias} -> {route.upstream_model} at {route.api_base})"
    serve(litellm_app(route), args.host, args.port, what)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    mode = Path(sys.argv[0]).name if argv is None else ""
    if mode not in ("vllm", "litellm"):
        if not args or args[0] not in ("vllm", "litellm"):
            sys.exit("usage: openai_upstream.py vllm|litellm ARGS... (see its docstring)")
        mode = args.pop(0)
    if mode == "vllm":
        run_vllm(args)
    else:
        run_litellm(args)


if __name__ == "__main__":
    main()
