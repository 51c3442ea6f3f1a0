"""Ordinary questions, worded the way people word them, answered by the bundled 1.5B model
(the default) over two short files: real retrieval, generation and verification.

Each question is asked in three wordings that do not repeat the files' words ("find" for
"found", "remaining" for "left", "how many"); each must be answered with a citation of the
file that says it. A question the files do not answer is refused, and a follow-up is
answered from the conversation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mmstack.answer import Answer, AnswerService
from mmstack.answer.followups import Turn
from mmstack.config.settings import (
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    Settings,
)
from mmstack.llm.factory import open_llm
from mmstack.llm.router import LlmRouter
from mmstack.models.catalog import QWEN_1_5B_ID
from mmstack.stack import Stack, open_stack

pytestmark = pytest.mark.anyio

AUDIT = (
    "The audit found three issues: expired TLS certificates on two hosts, an admin account "
    "without MFA, and backups that had not been restored in a test for nine months."
)
FALCON = (
    "The Falcon migration finished on 14 March. The team moved 42 services to the new "
    "cluster. The main risk left is the billing database."
)

# (wordings, what the answer must say (every pattern), the file it cites)
QUESTIONS = [
    (
        [
            "What did the audit find?",
            "What were the audit's findings?",
            "tell me what problems the audit turned up",
        ],
        [r"TLS|certificate", r"MFA|multi-factor", r"backup"],
        "audit.txt",
    ),
    (
        [
            "What issues did the audit find?",
            "Which problems were found in the audit?",
            "List the issues the auditors discovered.",
        ],
        [r"TLS|certificate", r"MFA|multi-factor", r"backup"],
        "audit.txt",
    ),
    (
        [
            "How many services did the Falcon team move?",
            "how many services got migrated in the Falcon project?",
            "What number of services were moved to the new cluster by the Falcon team?",
        ],
        [r"\b42\b|forty-two"],
        "falcon.txt",
    ),
    (
        [
            "What is the main remaining risk of the Falcon migration?",
            "What's the biggest risk still left for Falcon?",
            "Which risk remains the main one after the Falcon migration?",
        ],
        [r"billing"],
        "falcon.txt",
    ),
    (
        [
            "When did the Falcon migration finish?",
            "when was falcon done?",
            "On what date was the Falcon migration completed?",
        ],
        [r"14 March|March 14"],
        "falcon.txt",
    ),
]
CASES = [
    pytest.param(wording, must, cited, id=f"{n}-{k}")
    for n, (wordings, must, cited) in enumerate(QUESTIONS)
    for k, wording in enumerate(wordings)
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ordinary_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    embedded = EmbeddedLlmSettings(models=[QWEN_1_5B_ID], context_size=4096)
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("ordinary")),
        ingest=IngestSettings(workers=0),
        llm=LlmSettings(default_model=QWEN_1_5B_ID, embedded=embedded),
    )
    with open_stack(settings) as stack:
        collection = stack.collections.create("notes").id
        stack.intake.add_file(collection, "audit.txt", AUDIT.encode())
        stack.intake.add_file(collection, "falcon.txt", FALCON.encode())
        stack.worker.run_until_idle()
        yield stack


@pytest.fixture(scope="module")
async def answers(ordinary_stack: Stack) -> AsyncIterator[AnswerService]:
    router: LlmRouter = open_llm(ordinary_stack.settings, ordinary_stack.models)
    settings = ordinary_stack.settings.answer  # the defaults, as a user gets them
    yield AnswerService(ordinary_stack.search, router, ordinary_stack.embedder, settings)
    await router.aclose()


def _notes(stack: Stack) -> list[str]:
    return [stack.collections.resolve_id("notes")]


def _check(answer: Answer, must: list[str], cited: str) -> None:
    seen = (
        answer.text,
        answer.draft,
        answer.refusal_reason,
        answer.answerability,
        answer.confirmation,
    )
    assert not answer.refused, seen
    for pattern in must:
        assert re.search(pattern, answer.text, re.IGNORECASE), seen
    assert answer.citations, seen
    assert {c.filename for c in answer.citations} == {cited}, seen


@pytest.mark.parametrize(("question", "must", "cited"), CASES)
async def test_an_ordinary_question_is_answered_with_its_source(
    answers: AnswerService, ordinary_stack: Stack, question: str, must: list[str], cited: str
) -> None:
    answer = await answers.answer(question, collection_ids=_notes(ordinary_stack))
    _check(answer, must, cited)


@pytest.mark.parametrize(
    "question",
    ["Who led the Falcon migration?", "How much did the audit cost?"],
)
async def test_a_question_the_files_do_not_answer_is_refused(
    answers: AnswerService, ordinary_stack: Stack, question: str
) -> None:
    answer = await answers.answer(question, collection_ids=_notes(ordinary_stack))
    assert answer.refused, (answer.text, answer.draft, answer.answerability)
    assert answer.citations == []


async def test_a_follow_up_is_answered_from_the_conversation(
    answers: AnswerService, ordinary_stack: Stack
) -> None:
    first = await answers.answer(
        "How many services did the Falcon team move?", collection_ids=_notes(ordinary_stack)
    )
    _check(first, [r"\b42\b"], "falcon.txt")
    history = [
        Turn("user", "How many services did the Falcon team move?"),
        Turn("assistant", first.text),
    ]
    answer = await answers.answer(
        "and when did it finish?", history=history, collection_ids=_notes(ordinary_stack)
    )
    assert "falcon" in answer.search_query.lower(), answer.search_query
    _check(answer, [r"14 March|March 14"], "falcon.txt")
