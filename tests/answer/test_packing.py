"""Packing passages into the prompt budget, counted by the 0.5B test model's tokenizer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from mmstack.answer import prompts
from mmstack.answer.packing import pack
from mmstack.config.settings import Settings
from mmstack.index.search import Anchor, SearchHit
from mmstack.llm.factory import open_llm
from mmstack.llm.router import LlmRouter
from mmstack.llm.types import ChatCompletionRequest
from mmstack.models.catalog import QWEN_0_5B_ID
from mmstack.stack import Stack

pytestmark = pytest.mark.anyio

QUESTION = "How often is the main lamp replaced?"
TEXTS = [
    "The main lamp is a 1000-watt metal halide bulb, replaced every 14 months. " * 6,
    "The fog signal sounds two blasts every 30 seconds and was electrified in 1987. " * 6,
    "Spring tides at the landing reach 3.2 metres; the keeper records them twice a day. " * 6,
]


def _hit(number: int, text: str) -> SearchHit:
    anchor = Anchor(None, None, ["Handbook"], 1000 * number, 1000 * number + len(text))
    return SearchHit(
        number, 1.0, text, "col", f"file-{number}", "handbook.md", "text/plain", 0, anchor
    )


def _build(passages: Sequence[SearchHit]) -> ChatCompletionRequest:
    return prompts.request(QWEN_0_5B_ID, QUESTION, passages, prompts.ANSWER)


@pytest.fixture
async def router(answer_settings: Settings, handbook_stack: Stack) -> AsyncIterator[LlmRouter]:
    router = open_llm(answer_settings, handbook_stack.models)
    yield router
    await router.aclose()


async def test_the_best_passages_that_fit_the_budget_are_kept(router: LlmRouter) -> None:
    hits = [_hit(i, text) for i, text in enumerate(TEXTS)]
    counts = [await router.count_prompt_tokens(_build(hits[:n])) for n in range(4)]
    assert all(c is not None for c in counts)
    sizes: list[int] = [c or 0 for c in counts]
    assert sizes == sorted(sizes)

    everything = await pack(hits, _build, router.count_prompt_tokens, sizes[3])
    assert everything.passages == hits
    assert everything.prompt_tokens == sizes[3]
    assert everything.counted

    two = await pack(hits, _build, router.count_prompt_tokens, sizes[3] - 1)
    assert two.passages == hits[:2]
    assert two.prompt_tokens == sizes[2] <= sizes[3] - 1


async def test_a_passage_too_long_for_the_budget_is_cut(router: LlmRouter) -> None:
    long_hit = _hit(0, TEXTS[0] * 4)
    alone = await router.count_prompt_tokens(_build([long_hit]))
    empty = await router.count_prompt_tokens(_build([]))
    assert alone is not None
    assert empty is not None
    budget = empty + (alone - empty) // 3

    packed = await pack([long_hit], _build, router.count_prompt_tokens, budget)
    (cut,) = packed.passages
    assert packed.prompt_tokens <= budget
    assert 0 < len(cut.text) < len(long_hit.text)
    assert long_hit.text.startswith(cut.text)
    assert cut.anchor.char_end == cut.anchor.char_start + len(cut.text)

    nothing = await pack([long_hit], _build, router.count_prompt_tokens, empty + 5)
    assert nothing.passages == []


async def test_without_a_tokenizer_the_estimate_errs_long(router: LlmRouter) -> None:
    hits = [_hit(i, text) for i, text in enumerate(TEXTS)]

    async def unknown(request: ChatCompletionRequest) -> int | None:
        return None

    estimated = await pack(hits, _build, unknown, 10_000)
    counted = await router.count_prompt_tokens(_build(hits))
    assert not estimated.counted
    assert counted is not None
    assert estimated.prompt_tokens >= counted
