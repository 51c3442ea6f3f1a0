"""`/v1/responses` on the bundled 0.5B model, run by llama.cpp inside the server."""

from __future__ import annotations

import openai

from mmstack.models.catalog import QWEN_0_5B_ID


def test_whole_and_streamed_responses(embedded_client: openai.OpenAI) -> None:
    fields = {
        "model": QWEN_0_5B_ID,
        "instructions": "Answer with a single word.",
        "input": "What is the capital of France?",
        "max_output_tokens": 8,
        "temperature": 0,
    }
    response = embedded_client.responses.create(**fields)  # type: ignore[call-overload]
    assert "Paris" in response.output_text
    assert response.status in ("completed", "incomplete")
    assert response.usage is not None
    assert 0 < response.usage.output_tokens <= 8

    stream = embedded_client.responses.create(**fields, stream=True)  # type: ignore[call-overload]
    events = list(stream)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "Paris" in deltas
    assert events[0].type == "response.created"
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert events[-1].response.output_text == deltas
    assert events[-1].response.usage is not None
