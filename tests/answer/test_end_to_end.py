"""Grounded answers from the bundled 0.5B test model (llama.cpp, one thread) over the
ingested handbook: real search, real generation, real verification."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mmstack.answer import AnswerDone, AnswerService, TextDelta
from mmstack.config.settings import AnswerSettings, Settings
from mmstack.llm.factory import open_llm
from mmstack.llm.router import LlmRouter
from mmstack.stack import Stack

pytestmark = pytest.mark.anyio


@pytest.fixture
async def service(answer_settings: Settings, handbook_stack: Stack) -> AsyncIterator[AnswerService]:
    router: LlmRouter = open_llm(answer_settings, handbook_stack.models)
    # The 0.5B model's YES/NO is not calibrated (it doubts plain facts), and given the one
    # passage that names everything asked it declines more often than given all of them:
    # the checks before answering are the bundled 1.5B model's, measured in
    # bench/grounded_qa.py. These tests are about generation and verification.
    settings = AnswerSettings(max_answer_tokens=48, answerability_check=False)
    yield AnswerService(handbook_stack.search, router, handbook_stack.embedder, settings)
    await router.aclose()


async def test_an_answer_cites_the_passage_that_states_it(
    service: AnswerService, handbook_stack: Stack
) -> None:
    lighthouse = handbook_stack.collections.resolve_id("lighthouse")
    answer = await service.answer(
        "How often is the main lamp of the Karsholm lighthouse replaced?",
        collection_ids=[lighthouse],
    )
    assert not answer.refused, (answer.refusal_reason, answer.draft)
    assert "14 months" in answer.text
    assert answer.citations
    for citation in answer.citations:
        assert citation.filename == "handbook.md"
        assert citation.quote in answer.passages[citation.number - 1].text
    assert "14 months" in " ".join(c.quote for c in answer.citations)
    assert answer.usage.prompt_tokens > 0


async def test_a_streamed_answer_arrives_in_verified_sentences(
    service: AnswerService, handbook_stack: Stack
) -> None:
    lighthouse = handbook_stack.collections.resolve_id("lighthouse")
    stream = await service.stream(
        "What kind of bulb is the main lamp of the lighthouse, and how often is it replaced?",
        collection_ids=[lighthouse],
    )
    events = [event async for event in stream]
    await stream.aclose()
    assert isinstance(events[-1], AnswerDone)
    answer = events[-1].answer
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == answer.text
    assert not answer.refused, (answer.refusal_reason, answer.draft)
    assert "14 months" in answer.text, (answer.draft, answer.text)
    assert {c.filename for c in answer.citations} == {"handbook.md"}, (answer.draft, answer.text)
