"""Past `answer.max_in_flight` answers in progress, another is refused at once with 429 and
a Retry-After; a slot comes back when its answer's stream is closed or has ended, and when
starting the answer failed."""

from __future__ import annotations

import pytest

from mmstack.answer import AnswerService
from mmstack.config.settings import AnswerSettings
from mmstack.errors import RateLimitError
from mmstack.llm.errors import UnknownModelError
from mmstack.stack import Stack
from tests.answer.scripted import ScriptedModels

pytestmark = pytest.mark.anyio

QUESTION = "How often is the main lamp of the Karsholm lighthouse replaced?"


async def test_answers_past_the_limit_are_refused_until_one_ends(handbook_stack: Stack) -> None:
    model = ScriptedModels("The main lamp is replaced every 14 months [1].")
    service = AnswerService(
        handbook_stack.search, model, handbook_stack.embedder, AnswerSettings(max_in_flight=2)
    )
    first = await service.stream(QUESTION)
    second = await service.stream(QUESTION)
    with pytest.raises(RateLimitError) as refused:
        await service.stream(QUESTION)
    assert refused.value.retry_after > 0
    assert "answer.max_in_flight" in refused.value.message

    await first.aclose()  # closed early: its slot comes back
    third = await service.stream(QUESTION)
    async for _ in second:  # read to its end: its slot comes back
        pass
    with pytest.raises(UnknownModelError):  # a start that fails holds no slot
        await service.stream(QUESTION, model="no-such-model")
    fourth = await service.stream(QUESTION)
    await third.aclose()
    await fourth.aclose()
    whole = await service.answer(QUESTION)  # `answer` reads its stream to the end
    assert whole.text


async def test_zero_is_no_limit(handbook_stack: Stack) -> None:
    model = ScriptedModels("The main lamp is replaced every 14 months [1].")
    service = AnswerService(
        handbook_stack.search, model, handbook_stack.embedder, AnswerSettings(max_in_flight=0)
    )
    streams = [await service.stream(QUESTION) for _ in range(20)]
    for stream in streams:
        await stream.aclose()
