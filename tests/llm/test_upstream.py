"""The upstream backend and the router against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mmstack.config.settings import (
    EmbeddedLlmSettings,
    LlmSettings,
    Settings,
    UpstreamSettings,
)
from mmstack.llm.errors import (
    BackendRejectedError,
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    ContextLengthExceededError,
    UnknownModelError,
)
from mmstack.llm.factory import open_llm
from mmstack.llm.router import LlmConfigError, LlmRouter
from mmstack.llm.types import ChatCompletionChunk, ChatCompletionRequest
from mmstack.models.catalog import BUNDLED_MODELS
from mmstack.models.registry import LocalFile, ModelRegistry, ModelSpec
from tests.llm.fake_upstream import API_KEY, FakeUpstream

pytestmark = pytest.mark.anyio


def _router(tmp_path: Path, *upstreams: dict[str, Any], **llm: Any) -> LlmRouter:
    settings = Settings(
        data_dir=tmp_path,
        llm=LlmSettings(
            embedded=EmbeddedLlmSettings(enabled=False),
            upstreams=[
                UpstreamSettings.model_validate(
                    {"api_key": API_KEY, "retry_backoff_seconds": 0.01, **upstream}
                )
                for upstream in upstreams
            ],
            **llm,
        ),
    )
    return open_llm(settings, ModelRegistry(BUNDLED_MODELS, tmp_path / "models"))


def _request(model: str, text: str = "hello there", **fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": text}], **fields}
    )


def _join(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def test_completion_passes_unknown_fields_both_ways(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path, {"name": "fake", "base_url": fake_upstream.base_url, "models": ["echo"]}
    )
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    request = _request("echo", tools=tools, tool_choice="auto", x_vendor_option=7)
    completion = await router.complete(request)
    await router.aclose()

    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.model == "echo"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 8
    assert completion.model_extra == {"x_served_by": "fake"}
    sent = fake_upstream.bodies[-1]
    assert sent["tools"] == tools
    assert sent["tool_choice"] == "auto"
    assert sent["x_vendor_option"] == 7
    assert sent["stream"] is False
    assert "temperature" not in sent  # nothing the client did not send


async def test_stream_is_passed_through(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    router = _router(
        tmp_path, {"name": "fake", "base_url": fake_upstream.base_url, "models": ["echo"]}
    )
    request = _request("echo", "one two three", stream_options={"include_usage": True})
    stream = await router.stream(request)
    chunks = [chunk async for chunk in stream]
    await router.aclose()

    assert chunks[0].choices[0].delta.role == "assistant"
    assert _join(chunks) == "echo: one two three"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert all(c.model_extra == {"x_served_by": "fake"} for c in chunks)
    assert fake_upstream.bodies[-1]["stream"] is True


async def test_retries_on_5xx_and_429_but_not_on_4xx(
    tmp_path: Path, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    models = ["flaky", "ratelimited", "reject", "too-long"]
    router = _router(
        tmp_path,
        {"name": "fake", "base_url": fake_upstream.base_url, "models": models, "max_retries": 2},
    )
    completion = await router.complete(_request("flaky", user="retry-test"))
    assert completion.choices[0].message.content == "echo: hello there"
    assert fake_upstream.attempts_of("flaky", "retry-test") == 3  # two 503s, then the answer

    with pytest.raises(BackendUnavailableError) as unavailable:
        await router.complete(_request("ratelimited", user="retry-test"))
    assert unavailable.value.status_code == 503
    assert "429" in unavailable.value.message
    assert fake_upstream.attempts_of("ratelimited", "retry-test") == 3

    with pytest.raises(BackendRejectedError) as rejected:
        await router.stream(_request("reject", user="retry-test"))
    assert rejected.value.status_code == 400
    assert (rejected.value.code, rejected.value.param) == ("invalid_tools", "tools")
    assert "tools[0] has no function" in rejected.value.message
    assert fake_upstream.attempts_of("reject", "retry-test") == 1

    with pytest.raises(ContextLengthExceededError) as too_long:
        await router.complete(_request("too-long", user="retry-test"))
    assert too_long.value.code == "context_length_exceeded"
    assert fake_upstream.attempts_of("too-long", "retry-test") == 1
    await router.aclose()

    assert "llm upstream retry" in caplog.text
    assert API_KEY not in caplog.text


async def test_slow_upstream_times_out_without_retry(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path,
        {
            "name": "fake",
            "base_url": fake_upstream.base_url,
            "models": ["slow"],
            "read_timeout": 0.2,
        },
    )
    with pytest.raises(BackendTimeoutError) as timeout:
        await router.complete(_request("slow", user="timeout-test"))
    with pytest.raises(BackendTimeoutError):
        await router.stream(_request("slow", user="timeout-test"))
    await router.aclose()
    assert timeout.value.status_code == 504
    # Two requests, one attempt each: a timeout is not retried.
    assert fake_upstream.attempts_of("slow", "timeout-test") == 2


async def test_garbage_and_refused_credentials_are_bad_gateway(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path,
        {"name": "fake", "base_url": fake_upstream.base_url, "models": ["garbage"]},
        {"name": "badkey", "base_url": fake_upstream.base_url, "models": ["echo"], "api_key": "x"},
    )
    with pytest.raises(BackendResponseError, match="not a chat completion") as garbage:
        await router.complete(_request("garbage"))
    assert garbage.value.status_code == 502
    with pytest.raises(BackendResponseError, match="not a chunk"):
        await router.stream(_request("garbage"))
    with pytest.raises(BackendResponseError, match="credentials"):
        await router.complete(_request("echo"))
    await router.aclose()


async def test_unreachable_upstream_falls_back_to_the_next(
    tmp_path: Path, fake_upstream: FakeUpstream, dead_url: str
) -> None:
    router = _router(
        tmp_path,
        {"name": "dead", "base_url": dead_url, "models": ["echo"], "max_retries": 1},
        {"name": "fake", "base_url": fake_upstream.base_url, "models": ["echo"]},
    )
    assert [b.name for _, b in router.routes("echo")] == ["upstream:dead", "upstream:fake"]
    completion = await router.complete(_request("echo"))
    assert completion.choices[0].message.content == "echo: hello there"
    stream = await router.stream(_request("echo", "still here"))
    assert _join([chunk async for chunk in stream]) == "echo: still here"
    await router.aclose()

    everyone_down = _router(
        tmp_path,
        {"name": "dead", "base_url": dead_url, "models": ["echo"], "max_retries": 0},
        {"name": "dead2", "base_url": dead_url, "models": ["echo"], "max_retries": 0},
    )
    with pytest.raises(BackendUnavailableError) as down:
        await everyone_down.complete(_request("echo"))
    assert "upstream:dead " in down.value.message
    assert "upstream:dead2" in down.value.message
    await everyone_down.aclose()


async def test_aliases_fall_back_in_order_and_are_listed(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path,
        {
            "name": "fake",
            "base_url": fake_upstream.base_url,
            "models": ["slow", "echo"],
            "read_timeout": 0.2,
        },
        aliases={"chat": ["slow", "echo"]},
        default_model="chat",
    )
    assert router.model_ids() == ["slow", "echo", "chat"]
    assert [(m.id, m.owned_by) for m in router.list_models()][-1] == ("chat", "alias")
    completion = await router.complete(_request("chat", user="alias-test"))
    assert completion.choices[0].message.content == "echo: hello there"
    assert fake_upstream.attempts_of("slow", "alias-test") == 1  # timed out, then echo

    with pytest.raises(UnknownModelError) as unknown:
        await router.complete(_request("gpt-17"))
    assert unknown.value.status_code == 404
    assert unknown.value.param == "model"
    assert "chat" in unknown.value.message
    await router.aclose()

    with pytest.raises(LlmConfigError, match="no backend serves nope"):
        _router(
            tmp_path,
            {"name": "fake", "base_url": fake_upstream.base_url, "models": ["echo"]},
            aliases={"chat": ["echo", "nope"]},
        )


async def test_consumer_going_away_hangs_up_on_the_upstream(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path, {"name": "fake", "base_url": fake_upstream.base_url, "models": ["endless"]}
    )
    received: list[ChatCompletionChunk] = []

    async def consume() -> None:
        stream = await router.stream(_request("endless"))
        async for chunk in stream:
            received.append(chunk)

    fake_upstream.hung_up.clear()
    task = asyncio.create_task(consume())
    while len(received) < 3:
        await asyncio.sleep(0.01)
    task.cancel()  # what a server does to a request whose client disconnected
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake_upstream.hung_up.wait, 5)

    fake_upstream.hung_up.clear()
    stream = await router.stream(_request("endless"))
    await anext(stream)
    await stream.aclose()
    assert await asyncio.to_thread(fake_upstream.hung_up.wait, 5)
    await router.aclose()


async def test_no_fallback_once_a_stream_has_started(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path,
        {"name": "first", "base_url": fake_upstream.base_url, "models": ["midway"]},
        {"name": "second", "base_url": fake_upstream.base_url, "models": ["midway"]},
    )
    stream = await router.stream(_request("midway", user="midway-test"))
    received = [await anext(stream), await anext(stream)]
    assert _join(received) == "Once upon"
    with pytest.raises(BackendResponseError, match="upstream crashed"):
        await anext(stream)
    assert fake_upstream.attempts_of("midway", "midway-test") == 1
    await router.aclose()


async def test_missing_embedded_model_falls_back_to_an_upstream(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    registry = ModelRegistry(BUNDLED_MODELS, tmp_path / "models")
    missing = LocalFile(tmp_path / "not-installed.gguf")
    registry.add(ModelSpec(id="local-llm", task="llm", description="", files={"model": missing}))
    upstream = UpstreamSettings(
        name="fake", base_url=fake_upstream.base_url, api_key=API_KEY, models=["local-llm"]
    )
    settings = Settings(
        data_dir=tmp_path,
        llm=LlmSettings(embedded=EmbeddedLlmSettings(models=["local-llm"]), upstreams=[upstream]),
    )
    router = open_llm(settings, registry)
    assert [b.name for _, b in router.routes("local-llm")] == ["embedded", "upstream:fake"]
    completion = await router.complete(_request("local-llm"))
    assert completion.choices[0].message.content == "echo: hello there"
    await router.aclose()


async def test_one_connection_serves_request_after_request_until_closed(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path, {"name": "fake", "base_url": fake_upstream.base_url, "models": ["echo"]}
    )
    before = len(fake_upstream.peers)
    for n in range(3):
        completion = await router.complete(_request("echo", f"number {n}"))
        assert completion.choices[0].message.content == f"echo: number {n}"
    peers = set(fake_upstream.peers[before:])
    assert len(peers) == 1  # kept alive and reused
    assert peers <= fake_upstream.open_peers()

    await router.aclose()
    assert await asyncio.to_thread(fake_upstream.wait_closed, peers.pop())
    with pytest.raises(RuntimeError, match="upstream:fake is closed"):
        await router.complete(_request("echo"))


async def test_a_stream_given_up_closes_its_connection(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path,
        {"name": "fake", "base_url": fake_upstream.base_url, "models": ["endless", "echo"]},
    )
    received: list[ChatCompletionChunk] = []

    async def consume() -> None:
        async for chunk in await router.stream(_request("endless")):
            received.append(chunk)

    task = asyncio.create_task(consume())
    while len(received) < 3:
        await asyncio.sleep(0.01)
    cancelled = fake_upstream.peers[-1]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake_upstream.wait_closed, cancelled)

    stream = await router.stream(_request("endless"))
    closed = fake_upstream.peers[-1]
    assert closed != cancelled  # a new connection: the cancelled one was not pooled
    await anext(stream)
    await stream.aclose()
    assert await asyncio.to_thread(fake_upstream.wait_closed, closed)

    completion = await router.complete(_request("echo"))
    assert completion.choices[0].message.content == "echo: hello there"
    assert fake_upstream.peers[-1] not in (cancelled, closed)
    await router.aclose()


async def test_a_stream_that_stalls_times_out_and_hangs_up(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path,
        {
            "name": "fake",
            "base_url": fake_upstream.base_url,
            "models": ["stall"],
            "read_timeout": 1.0,
        },
    )
    stream = await router.stream(_request("stall"))
    stalled = fake_upstream.peers[-1]
    assert _join([await anext(stream)]) == "Once"
    with pytest.raises(BackendTimeoutError, match="within 1 s") as timeout:
        await anext(stream)
    assert timeout.value.status_code == 504
    assert await asyncio.to_thread(fake_upstream.wait_closed, stalled)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    await router.aclose()


async def test_events_cut_anywhere_with_crlf_line_ends(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path, {"name": "fake", "base_url": fake_upstream.base_url, "models": ["pieces"]}
    )
    stream = await router.stream(_request("pieces", "one two three"))
    chunks = [chunk async for chunk in stream]
    await router.aclose()
    assert _join(chunks) == "echo: one two three"
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ["inline-error", "chunk-error"])
async def test_an_error_object_in_a_stream_is_a_bad_gateway(
    tmp_path: Path, fake_upstream: FakeUpstream, model: str
) -> None:
    router = _router(
        tmp_path, {"name": "fake", "base_url": fake_upstream.base_url, "models": [model]}
    )
    stream = await router.stream(_request(model))
    assert _join([await anext(stream)]) == "Once"
    with pytest.raises(BackendResponseError, match="error in stream: overloaded") as error:
        await anext(stream)
    assert error.value.status_code == 502
    await router.aclose()


async def test_a_stream_cut_short_is_a_bad_gateway(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    router = _router(
        tmp_path, {"name": "fake", "base_url": fake_upstream.base_url, "models": ["cut"]}
    )
    stream = await router.stream(_request("cut"))
    assert _join([await anext(stream)]) == "Once"
    with pytest.raises(BackendResponseError, match="the stream broke") as broken:
        await anext(stream)
    assert broken.value.status_code == 502
    await router.aclose()


class RawServer:
    """A TCP server on 127.0.0.1 that reads each request's head, writes `reply` and hangs up."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.accepted = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.reply)
        await writer.drain()
        writer.close()


@pytest.fixture
async def raw_server(request: pytest.FixtureRequest) -> AsyncIterator[RawServer]:
    raw = RawServer(request.param)
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    raw.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    yield raw
    server.close()
    await server.wait_closed()


HANG_UP = b""
NOT_HTTP = b"SSH-2.0-OpenSSH_9.6\r\n"
TRUNCATED = b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"id": '


@pytest.mark.parametrize(
    ("raw_server", "error", "message", "attempts"),
    [
        (HANG_UP, BackendUnavailableError, r"unreachable \(ServerDisconnectedError\)", 2),
        (NOT_HTTP, BackendResponseError, "malformed HTTP", 1),
        (TRUNCATED, BackendResponseError, "broke", 1),
    ],
    indirect=["raw_server"],
)
async def test_servers_that_break_the_protocol(
    tmp_path: Path,
    raw_server: RawServer,
    error: type[Exception],
    message: str,
    attempts: int,
) -> None:
    router = _router(
        tmp_path, {"name": "raw", "base_url": raw_server.url, "models": ["echo"], "max_retries": 1}
    )
    with pytest.raises(error, match=message):
        await router.complete(_request("echo"))
    assert raw_server.accepted == attempts  # a hang-up is retried like a refused connection
    with pytest.raises(error, match=message):
        await router.stream(_request("echo"))
    assert raw_server.accepted == 2 * attempts
    await router.aclose()
