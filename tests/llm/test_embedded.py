"""The embedded backend on the bundled 0.5B test model, run by llama.cpp in this process.

The model loads once per test session (the registry keeps one instance per process); one
thread, small answers: on two shared cores llama.cpp slows down badly with more threads.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest

from mmstack.config.settings import EmbeddedLlmSettings, LlmSettings, Settings
from mmstack.llm.embedded import EmbeddedBackend
from mmstack.llm.errors import (
    ContextLengthExceededError,
    ImageInputNotSupportedError,
    ToolsTooLargeError,
)
from mmstack.llm.factory import open_llm
from mmstack.llm.llama import LlamaModel
from mmstack.llm.router import LlmRouter
from mmstack.llm.types import ChatCompletionChunk, ChatCompletionRequest
from mmstack.models.catalog import BUNDLED_MODELS, QWEN_0_5B_ID
from mmstack.models.registry import ModelRegistry

pytestmark = pytest.mark.anyio

CONTEXT = 1024
QUESTION = [
    {"role": "system", "content": "Answer with a single word."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="session")
def llm_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    embedded = EmbeddedLlmSettings(models=[QWEN_0_5B_ID], context_size=CONTEXT, threads=1)
    return Settings(
        data_dir=tmp_path_factory.mktemp("llm"),
        llm=LlmSettings(default_model=QWEN_0_5B_ID, embedded=embedded),
    )


@pytest.fixture(scope="session")
def registry(llm_settings: Settings) -> ModelRegistry:
    return ModelRegistry(BUNDLED_MODELS, llm_settings.models_cache_dir)


@pytest.fixture
async def router(llm_settings: Settings, registry: ModelRegistry) -> AsyncIterator[LlmRouter]:
    router = open_llm(llm_settings, registry)
    yield router
    await router.aclose()


async def _model(router: LlmRouter) -> LlamaModel:
    _, backend = router.routes(QWEN_0_5B_ID)[0]
    assert isinstance(backend, EmbeddedBackend)
    return await backend.load(QWEN_0_5B_ID)


def _request(messages: Sequence[Mapping[str, object]], **fields: object) -> ChatCompletionRequest:
    body = {"model": QWEN_0_5B_ID, "messages": messages, "temperature": 0, **fields}
    return ChatCompletionRequest.model_validate(body)


async def _wait_idle(model: LlamaModel, seconds: float) -> float:
    started = time.monotonic()
    while model.generating and time.monotonic() - started < seconds:
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_completion_and_prompt_tokens(router: LlmRouter) -> None:
    request = _request(QUESTION, max_tokens=8)
    counted = await router.count_prompt_tokens(request)
    completion = await router.complete(request)

    assert "Paris" in (completion.choices[0].message.content or "")
    assert completion.model == QWEN_0_5B_ID
    assert completion.object == "chat.completion"
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == counted
    assert 0 < completion.usage.completion_tokens <= 8
    assert await router.context_window(QWEN_0_5B_ID) == CONTEXT
    assert router.default_model == QWEN_0_5B_ID


async def test_stream_chunks_join_to_the_answer(router: LlmRouter) -> None:
    as_developer = [{**QUESTION[0], "role": "developer"}, QUESTION[1]]  # OpenAI's new name
    stream = await router.stream(_request(as_developer, max_tokens=8))
    chunks = [chunk async for chunk in stream]

    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert {c.model for c in chunks} == {QWEN_0_5B_ID}
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


async def test_stopping_a_stream_stops_generation(router: LlmRouter) -> None:
    # 400 tokens would take several seconds; a stopped generation ends within a token or two.
    counting = [{"role": "user", "content": "Count from 1 to 1000, separated by commas."}]
    model = await _model(router)

    stream = await router.stream(_request(counting, max_tokens=400))
    for _ in range(5):
        await anext(stream)
    await stream.aclose()
    assert await _wait_idle(model, 5) < 1.0

    received: list[ChatCompletionChunk] = []

    async def consume() -> None:
        async for chunk in await router.stream(_request(counting, max_tokens=400)):
            received.append(chunk)

    task = asyncio.create_task(consume())
    while len(received) < 5:
        await asyncio.sleep(0.01)
    task.cancel()  # what the HTTP server does when the client disconnects
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _wait_idle(model, 5) < 1.0
    assert model.generating == 0

    started = time.monotonic()
    answer = await router.complete(_request(QUESTION, max_tokens=4))
    assert answer.choices[0].message.content
    assert time.monotonic() - started < 10  # the slot is free again


async def test_prompt_over_the_context_window_is_refused(router: LlmRouter) -> None:
    long = _request([{"role": "user", "content": "lorem ipsum dolor " * 400}], max_tokens=4)
    counted = await router.count_prompt_tokens(long)
    assert counted is not None
    assert counted > CONTEXT

    with pytest.raises(ContextLengthExceededError) as refused:
        await router.complete(long)
    assert refused.value.status_code == 400
    assert refused.value.code == "context_length_exceeded"
    assert (refused.value.prompt_tokens, refused.value.context_window) == (counted, CONTEXT)
    with pytest.raises(ContextLengthExceededError):
        await router.stream(long)

    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with_image = _request([{"role": "user", "content": [{"type": "text", "text": "?"}, image]}])
    with pytest.raises(ImageInputNotSupportedError) as no_vision:
        await router.complete(with_image)
    assert no_vision.value.status_code == 400


async def test_tools_reach_the_chat_template_and_calls_come_back(router: LlmRouter) -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    without_tools = await router.count_prompt_tokens(_request(question))
    with_tools = await router.count_prompt_tokens(_request(question, tools=[weather]))
    assert without_tools is not None
    assert with_tools is not None
    assert with_tools > without_tools + 50  # the template lists the tool

    # The 0.5B model writes its call in a ```json block instead of the template's
    # <tool_call> tags; an assistant message that opens the tag is continued by llama.cpp.
    opened = [*question, {"role": "assistant", "content": "<tool_call>\n"}]
    request = _request(
        opened,
        tools=[weather],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=40,
    )
    completion = await router.complete(request)

    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert len(calls) == 1
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "{}") == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"


def _many_tools(count: int) -> list[dict[str, object]]:
    """Tool schemas the way a chat client's built-in tools come: many, each described."""
    return [
        {
            "type": "function",
            "function": {
                "name": f"tool_{n}",
                "description": f"Look up record {n} in the team's workspace and return it",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string", "description": "What to find"}},
                    "required": ["query"],
                },
            },
        }
        for n in range(count)
    ]


async def test_too_many_tool_schemas_are_refused_or_dropped_not_read_for_minutes(
    llm_settings: Settings, registry: ModelRegistry
) -> None:
    question = [{"role": "user", "content": "Say hello."}]
    heavy = _request(question, tools=_many_tools(36), tool_choice="auto", max_tokens=8)
    light = _request(question, tools=_many_tools(1), max_tokens=8)
    router = open_llm(llm_settings, registry)  # the default budget: 1024 tokens of tools
    try:
        with pytest.raises(ToolsTooLargeError) as refused:
            await router.complete(heavy)
        assert refused.value.status_code == 400
        assert refused.value.param == "tools"
        assert "36 tool schemas" in refused.value.message
        assert "llm.embedded.max_tool_tokens" in refused.value.message
        assert (await router.complete(light)).choices  # a few tools still go through
    finally:
        await router.aclose()

    embedded = llm_settings.llm.embedded.model_copy(update={"tool_overflow": "drop"})
    dropping = llm_settings.model_copy(
        update={"llm": llm_settings.llm.model_copy(update={"embedded": embedded})}
    )
    router = open_llm(dropping, registry)
    try:
        completion = await router.complete(heavy)
        assert completion.choices[0].message.content
        assert not completion.choices[0].message.tool_calls
        # Answered without the schemas: the prompt is the question's alone.
        plain = await router.count_prompt_tokens(_request(question))
        assert completion.usage is not None
        assert plain is not None
        assert completion.usage.prompt_tokens == plain
    finally:
        await router.aclose()


def test_bundled_chat_models_are_verified(registry: ModelRegistry) -> None:
    status = registry.status(QWEN_0_5B_ID)
    assert status.verified
    assert Path(status.paths["model"]).stat().st_size == 491_400_064
