"""The answer service on real search and the real embedder, with a scripted model at the LLM
seam: what the model writes is fixed, so the verification can be checked exactly."""

from __future__ import annotations

import pytest

from mmstack.answer import REFUSAL, AnswerDone, AnswerService, TextDelta
from mmstack.answer.followups import Turn
from mmstack.config.settings import AnswerSettings
from mmstack.llm.errors import UnknownModelError
from mmstack.stack import Stack
from tests.answer.conftest import HANDBOOK
from tests.answer.scripted import MODEL, ScriptedModels

pytestmark = pytest.mark.anyio

QUESTION = "How often is the main lamp of the Karsholm lighthouse replaced?"


def _service(stack: Stack, model: ScriptedModels, **settings: object) -> AnswerService:
    return AnswerService(stack.search, model, stack.embedder, AnswerSettings(**settings))


def _lighthouse(stack: Stack) -> list[str]:
    return [stack.collections.resolve_id("lighthouse")]


def _passage(answer_passages: list[str], filename: str) -> int:
    return answer_passages.index(filename) + 1


async def test_a_supported_answer_keeps_its_citation_and_quotes_the_passage(
    handbook_stack: Stack,
) -> None:
    model = ScriptedModels("")
    service = _service(handbook_stack, model)
    probe = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))
    lamp = next(i for i, h in enumerate(probe.passages, 1) if "14 months" in h.text)

    model.answer = f"The main lamp is replaced every 14 months [{lamp}]."
    answer = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))

    assert not answer.refused
    assert answer.text == model.answer
    (citation,) = answer.citations
    assert citation.number == lamp
    assert citation.filename == "handbook.md"
    assert citation.heading_path == ["Karsholm lighthouse handbook", "Lamp"]
    assert "every 14 months" in citation.quote
    # The quote's offsets point into the file's text, and the marker's into the answer's.
    assert " ".join(HANDBOOK.split()).find(" ".join(citation.quote.split())) >= 0
    assert answer.text[citation.marker_start : citation.marker_end] == f"[{lamp}]"
    assert answer.answerability == pytest.approx(0.9)


async def test_a_wrong_citation_is_moved_to_the_passage_that_supports_the_sentence(
    handbook_stack: Stack,
) -> None:
    model = ScriptedModels("")
    service = _service(handbook_stack, model)
    question = "When does the supply boat call, and how often is the lamp replaced?"
    probe = await service.answer(question, collection_ids=_lighthouse(handbook_stack))
    files = [h.filename for h in probe.passages]
    boat, lamp = _passage(files, "supplies.md"), _passage(files, "handbook.md")

    model.answer = (
        f"The supply boat calls on the first Monday of each month [{lamp}]. "
        f"The lamp is replaced every 14 months [{lamp}]."
    )
    answer = await service.answer(question, collection_ids=_lighthouse(handbook_stack))

    assert answer.text == (
        f"The supply boat calls on the first Monday of each month [{boat}]. "
        f"The lamp is replaced every 14 months [{lamp}]."
    )
    assert [c.filename for c in answer.citations] == ["supplies.md", "handbook.md"]
    assert [c.number for c in answer.sources()] == sorted({boat, lamp})


async def test_an_unsupported_sentence_is_dropped_and_nothing_supported_is_a_refusal(
    handbook_stack: Stack,
) -> None:
    model = ScriptedModels(
        "The main lamp is replaced every 14 months [1]. "
        "It was installed by the Danish navy in 1921 [1]."
    )
    service = _service(handbook_stack, model)
    answer = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))
    assert answer.text.startswith("The main lamp is replaced every 14 months")
    assert "1921" not in answer.text
    assert "1921" in answer.draft

    model.answer = "The lamp is a 2000-watt bulb replaced every 6 months by the navy [1]."
    refused = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))
    assert refused.refused
    assert refused.refusal_reason == "unsupported"
    assert refused.text == REFUSAL
    assert refused.citations == []


async def test_the_plain_pipeline_keeps_what_the_model_wrote(handbook_stack: Stack) -> None:
    model = ScriptedModels("The lamp is a 2000-watt bulb replaced every 6 months [1].")
    service = _service(handbook_stack, model, verify=False, answerability_check=False)
    answer = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))
    assert not answer.refused
    assert answer.text == model.answer
    assert [c.number for c in answer.citations] == [1]
    assert answer.answerability is None
    assert model.answers_asked() == 1
    assert len(model.requests) == 1


async def test_the_model_declining_is_a_refusal_and_ends_the_answer(handbook_stack: Stack) -> None:
    model = ScriptedModels("The passages do not say when the lamp was installed.", p_yes=0.7)
    service = _service(handbook_stack, model)
    declined = await service.answer(
        "When was the lamp installed?", collection_ids=_lighthouse(handbook_stack)
    )
    assert declined.refused
    assert declined.refusal_reason == "model_declined"

    model.answer = (
        "The lamp is replaced every 14 months [1]. The passages do not mention its maker. "
        "The fog signal sounds two blasts every 30 seconds [1]."
    )
    answer = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))
    assert not answer.refused
    # A partial answer: what the passages say, then what they do not, and nothing after.
    assert answer.text == (
        "The lamp is replaced every 14 months [1]. The passages do not mention its maker."
    )
    assert [c.number for c in answer.citations] == [1]
    assert "fog" not in answer.text
    assert model.streams[-1].closed


async def test_passages_that_do_not_hold_the_answer_are_refused_before_answering(
    handbook_stack: Stack,
) -> None:
    # So low that no second look could make up for it: 0.1 and at most 1.0 average 0.55,
    # under the threshold of 0.6.
    model = ScriptedModels("The keeper's salary is 3.2 thousand a month [1].", p_yes=0.1)
    service = _service(handbook_stack, model, answerability_threshold=0.6)
    answer = await service.answer(
        "What is the keeper's salary?", collection_ids=_lighthouse(handbook_stack)
    )
    assert answer.refused
    assert answer.refusal_reason == "not_answerable"
    assert answer.answerability == pytest.approx(0.1)
    assert answer.confirmation is None
    assert model.answers_asked() == 0


@pytest.mark.parametrize(
    ("p_confirm", "answered"),
    [(0.9, True), (0.3, False)],  # means with the first look's 0.5: 0.7 and 0.4
)
async def test_a_doubtful_first_look_is_settled_by_the_text_the_first_fact_stands_on(
    handbook_stack: Stack, p_confirm: float, answered: bool
) -> None:
    model = ScriptedModels("", p_yes=0.5, p_confirm=p_confirm)
    service = _service(handbook_stack, model, answerability_threshold=0.6)
    probe = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))
    lamp = next(i for i, h in enumerate(probe.passages, 1) if "14 months" in h.text)
    model.answer = (
        f"The main lamp is replaced every 14 months [{lamp}]. "
        f"It is a 1000-watt metal halide bulb [{lamp}]."
    )
    model.requests.clear()

    stream = await service.stream(QUESTION, collection_ids=_lighthouse(handbook_stack))
    events = [event async for event in stream]

    answer = events[-1].answer if isinstance(events[-1], AnswerDone) else None
    assert answer is not None
    assert answer.answerability == pytest.approx(0.5)
    assert answer.confirmation == pytest.approx(p_confirm)
    (asked,) = model.confirmations()  # once, about the first fact only
    assert "every 14 months" in str(asked.messages[-1].content)
    assert "Passages:" not in str(asked.messages[-1].content)
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    if answered:
        assert not answer.refused
        assert streamed == answer.text
        assert answer.text == model.answer
    else:
        # Nothing of the answer went out before the second look said no.
        assert answer.refused
        assert answer.refusal_reason == "not_answerable"
        assert streamed == REFUSAL
        assert answer.citations == []


async def test_without_the_second_look_the_first_decides_alone(handbook_stack: Stack) -> None:
    model = ScriptedModels("The main lamp is replaced every 14 months [1].", p_yes=0.5)
    service = _service(
        handbook_stack, model, answerability_threshold=0.6, answerability_confirm=False
    )
    answer = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))
    assert answer.refused
    assert answer.refusal_reason == "not_answerable"
    assert model.answers_asked() == 0
    assert model.confirmations() == []


async def test_no_passages_is_a_refusal_without_asking_the_model(handbook_stack: Stack) -> None:
    model = ScriptedModels("Anything [1].")
    service = _service(handbook_stack, model)
    empty = handbook_stack.collections.resolve_id("empty")
    for scope in ([empty], []):
        answer = await service.answer(QUESTION, collection_ids=scope)
        assert answer.refused
        assert answer.refusal_reason == "no_passages"
        assert answer.passages == []
    assert model.requests == []


async def test_streamed_text_is_the_verified_answer(handbook_stack: Stack) -> None:
    model = ScriptedModels(
        "The lamp is replaced every 14 months [1]. It was installed in 1921 [1]. "
        "The fog signal sounds every 30 seconds [1]."
    )
    service = _service(handbook_stack, model)
    stream = await service.stream(QUESTION, collection_ids=_lighthouse(handbook_stack))
    events = [event async for event in stream]
    await stream.aclose()

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert isinstance(events[-1], AnswerDone)
    answer = events[-1].answer
    assert len(deltas) == 2  # one per sentence kept
    assert "".join(deltas) == answer.text
    assert "1921" not in answer.text
    assert "30 seconds" in answer.text


async def test_bad_requests_fail_before_anything_is_streamed(handbook_stack: Stack) -> None:
    service = _service(handbook_stack, ScriptedModels("x"))
    with pytest.raises(UnknownModelError, match="no-such-model"):
        await service.stream(QUESTION, model="no-such-model")
    with pytest.raises(Exception, match="must not be empty"):
        await service.stream("   ")
    assert MODEL in ScriptedModels("x").model_ids()


async def test_an_echoed_passage_heading_is_not_part_of_the_answer(handbook_stack: Stack) -> None:
    model = ScriptedModels(
        "[1] handbook.md, Karsholm lighthouse handbook > Lamp\n"
        "The main lamp is replaced every 14 months in handbook.md."
    )
    service = _service(handbook_stack, model)
    answer = await service.answer(QUESTION, collection_ids=_lighthouse(handbook_stack))
    lamp = next(i for i, h in enumerate(answer.passages, 1) if "14 months" in h.text)
    assert answer.text == f"The main lamp is replaced every 14 months [{lamp}]."
    (citation,) = answer.citations
    assert citation.quote.startswith("The main lamp of the Karsholm lighthouse")


async def test_a_follow_up_is_searched_and_answered_as_the_question_it_stands_for(
    handbook_stack: Stack,
) -> None:
    model = ScriptedModels(
        "The fog signal was converted to an electric emitter in 1987 [1].",
        rewrite="When was the fog signal of the Karsholm lighthouse converted?",
    )
    service = _service(handbook_stack, model)
    history = [
        Turn("user", "What does the fog signal of the lighthouse sound?"),
        Turn("assistant", "It sounds two blasts every 30 seconds [1]."),
    ]
    answer = await service.answer(
        "and when was it converted?", history=history, collection_ids=_lighthouse(handbook_stack)
    )
    assert answer.question == "and when was it converted?"
    assert answer.search_query == "When was the fog signal of the Karsholm lighthouse converted?"
    assert not answer.refused
    assert answer.citations[0].filename == "handbook.md"
    assert "1987" in answer.citations[0].quote
    # The rewrite saw the conversation, markers left out; the answer the rewritten question.
    (rewrite,) = model.completions
    shown = rewrite.messages[-1].text()
    assert "What does the fog signal of the lighthouse sound?" in shown
    assert "two blasts every 30 seconds." in shown
    assert "[1]" not in shown
    assert shown.rstrip().endswith("The last message as a standalone question:")
    assert "Question: When was the fog signal of the Karsholm lighthouse converted?" in (
        model.requests[-1].messages[-1].text()
    )


async def test_a_question_without_history_is_not_rewritten(handbook_stack: Stack) -> None:
    model = ScriptedModels("The main lamp is replaced every 14 months [1].", rewrite="other")
    service = _service(handbook_stack, model)
    answer = await service.answer(
        QUESTION, history=[Turn("user", "  ")], collection_ids=_lighthouse(handbook_stack)
    )
    assert answer.search_query == QUESTION
    assert model.completions == []


@pytest.mark.parametrize("rewrite", ["", "Sure! Here it is:\nWhen was it converted?"])
async def test_an_unusable_rewrite_falls_back_to_the_question_as_asked(
    handbook_stack: Stack, rewrite: str
) -> None:
    model = ScriptedModels("The fog signal was converted in 1987 [1].", rewrite=rewrite)
    service = _service(handbook_stack, model)
    history = [Turn("user", "Tell me about the fog signal."), Turn("assistant", "It sounds.")]
    asked = "When was the fog signal converted to an electric emitter?"
    answer = await service.answer(
        asked, history=history, collection_ids=_lighthouse(handbook_stack)
    )
    assert answer.search_query == asked
    assert len(model.completions) == 1
