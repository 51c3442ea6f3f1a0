"""`/v1/chat/completions` on the bundled 0.5B model, run by llama.cpp inside the server:
the real path, streamed and not. Few and short: two shared cores."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from mmstack.llm.embedded import EmbeddedBackend
from mmstack.llm.llama import LlamaModel
from mmstack.models.catalog import QWEN_0_5B_ID
from tests.api.live_server import LiveServer

QUESTION: Any = [
    {"role": "system", "content": "Answer with a single word."},
    {"role": "user", "content": "What is the capital of France?"},
]
COUNTING: Any = [{"role": "user", "content": "Count from 1 to 1000, separated by commas."}]


def _model(server: LiveServer) -> LlamaModel:
    _, backend = server.stack.llm.routes(QWEN_0_5B_ID)[0]
    assert isinstance(backend, EmbeddedBackend)
    return asyncio.run(backend.load(QWEN_0_5B_ID))  # the instance the server runs


def _stops(model: LlamaModel, within: float) -> bool:
    deadline = time.monotonic() + within
    while model.generating and time.monotonic() < deadline:
        time.sleep(0.01)
    return model.generating == 0


def test_whole_and_streamed_answers(embedded_client: openai.OpenAI) -> None:
    completion = embedded_client.chat.completions.create(
        model=QWEN_0_5B_ID, messages=QUESTION, max_tokens=8, temperature=0
    )
    assert "Paris" in (completion.choices[0].message.content or "")
    assert completion.model == QWEN_0_5B_ID
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert 0 < completion.usage.completion_tokens <= 8

    stream = embedded_client.chat.completions.create(
        model=QWEN_0_5B_ID,
        messages=QUESTION,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == completion.usage.prompt_tokens


def test_tools_reach_the_model(embedded_client: openai.OpenAI) -> None:
    weather: Any = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    question: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    plain = embedded_client.chat.completions.create(
        model=QWEN_0_5B_ID, messages=question, max_tokens=1
    )
    with_tools = embedded_client.chat.completions.create(
        model=QWEN_0_5B_ID, messages=question, tools=[weather], tool_choice="auto", max_tokens=1
    )
    assert plain.usage is not None
    assert with_tools.usage is not None
    assert with_tools.usage.prompt_tokens > plain.usage.prompt_tokens + 20  # listed in the prompt


def test_images_and_long_prompts_are_refused(embedded_client: openai.OpenAI) -> None:
    image: Any = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(openai.BadRequestError) as no_vision:
        embedded_client.chat.completions.create(
            model=QWEN_0_5B_ID,
            messages=[{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}],
        )
    assert no_vision.value.code == "image_input_not_supported"
    assert "vision" in no_vision.value.message

    long: Any = [{"role": "user", "content": "lorem ipsum dolor " * 400}]
    with pytest.raises(openai.BadRequestError) as too_long:
        embedded_client.chat.completions.create(model=QWEN_0_5B_ID, messages=long, stream=True)
    assert too_long.value.code == "context_length_exceeded"
    assert "context window is 1024" in too_long.value.message


def test_client_going_away_stops_the_generation(
    embedded_server: LiveServer, embedded_client: openai.OpenAI
) -> None:
    # 400 tokens take many seconds here; a stopped generation ends within a token or two.
    model = _model(embedded_server)
    stream = embedded_client.chat.completions.create(
        model=QWEN_0_5B_ID, messages=COUNTING, max_tokens=400, temperature=0, stream=True
    )
    chunks = iter(stream)
    for _ in range(5):
        next(chunks)
    assert model.generating == 1
    stream.close()
    assert _stops(model, within=2)

    impatient = embedded_client.with_options(timeout=1.5)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(
            model=QWEN_0_5B_ID, messages=COUNTING, max_tokens=400, temperature=0
        )
    assert _stops(model, within=2)
