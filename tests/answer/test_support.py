"""The support check on real text with the real embedder: a sentence that restates its
passage is supported, one with a number or a claim the passage lacks is not."""

from __future__ import annotations

import pytest

from mmstack.answer import text as tx
from mmstack.answer.support import SupportChecker
from mmstack.stack import Stack

MALARIA = (
    "Total body water and extracellular water were estimated in children with severe or "
    "moderate malaria by tracer dilution. Sixteen children had severe and 19 moderate "
    "malaria. Severe childhood malaria was associated with depletion of total body water "
    "(mean 37 ml/kg, or 6.7%) relative to measurement at discharge. Volumes were not "
    "related to hyperlactataemia. Moderate malaria was not associated with a depletion of "
    "total body water."
)
NICKEL = (
    "measurements of nickel in biological materials by atomic absorption spectrometry . "
    "the recovery of nickel added to urine averaged 96 per cent . the mean concentration "
    "of nickel in 24-hr. collections of urine from 17 normal subjects was 1.8 ug. per "
    "100 ml. (s.d. = 0.8) . the highest concentrations of nickel were found in "
    "preparations of serum b-globulins ."
)


@pytest.fixture(scope="module")
def checker(handbook_stack: Stack) -> SupportChecker:
    checker = SupportChecker(handbook_stack.embedder, min_lexical=0.6, min_semantic=0.7)
    checker.index([MALARIA, NICKEL])
    return checker


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("Sixteen children had severe malaria [1].", 0),
        ("Total body water fell by a mean of 37 ml/kg in severe malaria [1].", 0),
        ("Normal subjects excreted 1.8 ug of nickel per 100 ml of urine [2].", 1),
        ("Serum beta globulin preparations held the most nickel.", 1),
    ],
)
def test_a_restated_fact_is_supported_by_its_passage_only(
    checker: SupportChecker, sentence: str, passage: int
) -> None:
    supports = checker.check(sentence)
    assert supports[passage].supported, supports[passage]
    assert not supports[1 - passage].supported, supports[1 - passage]


@pytest.mark.parametrize(
    "sentence",
    [
        "Twenty-two children had severe malaria and 19 moderate malaria [1].",
        "The mean concentration of nickel in urine was 2.4 ug per 100 ml [2].",
        "The children with severe malaria were treated with intravenous artesunate [1].",
    ],
)
def test_a_claim_the_passages_lack_is_not_supported(checker: SupportChecker, sentence: str) -> None:
    assert not any(s.supported for s in checker.check(sentence))


def test_a_wrong_number_fails_even_when_the_words_match(checker: SupportChecker) -> None:
    support = checker.check("Severe malaria depleted total body water by 45 ml/kg.")[0]
    assert support.lexical >= 0.6
    assert not support.numbers_ok
    assert not support.supported


FALCON = (
    "The Falcon migration finished on 14 March. The team moved 42 services to the new "
    "cluster. The main risk left is the billing database."
)


@pytest.fixture(scope="module")
def falcon(handbook_stack: Stack) -> SupportChecker:
    checker = SupportChecker(handbook_stack.embedder, min_lexical=0.6, min_semantic=0.7)
    checker.index([FALCON])
    return checker


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        (
            "What is the main remaining risk of the Falcon migration?",
            "The main remaining risk of the Falcon migration is the billing database [1].",
        ),
        (
            "How many services did the Falcon team move?",
            "The Falcon team migrated 42 services to the new cluster [1].",
        ),
        ("When did the Falcon migration wrap up?", "It wrapped up on 14 March [1]."),
    ],
)
def test_an_answer_may_echo_its_question_in_other_words(
    falcon: SupportChecker, question: str, sentence: str
) -> None:
    # "remaining" is not "left", "wrap up" not "finish": only what the answer adds to the
    # question must be the passage's.
    (support,) = falcon.check(sentence, question=question)
    assert support.supported, support


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        (
            "What is the main remaining risk of the Falcon migration?",
            "The main remaining risk of the Falcon migration is the payroll system [1].",
        ),
        ("How many services did the Falcon team move?", "The team moved 40 services [1]."),
    ],
)
def test_what_the_answer_adds_must_be_the_passages(
    falcon: SupportChecker, question: str, sentence: str
) -> None:
    (support,) = falcon.check(sentence, question=question)
    assert not support.supported, support


def test_the_quote_is_the_span_that_states_the_fact(checker: SupportChecker) -> None:
    support = checker.check("Urine of 17 normal subjects held 1.8 ug nickel per 100 ml.", [1])[0]
    quote = NICKEL[support.quote_start : support.quote_end]
    assert "1.8 ug" in quote
    assert "b-globulins" not in quote


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Handbook\n\nLamp\n\nThe lamp is replaced every 14 months. It is a 1000 W bulb.",
            ["Handbook\n\nLamp\n\nThe lamp is replaced every 14 months. It is a 1000 W bulb."],
        ),
        (
            "the mean was 1.8 ug. per 100 ml. (s.d. = 0.8) . the highest values were in "
            "serum b-globulins .",
            [
                "the mean was 1.8 ug. per 100 ml. (s.d. = 0.8) .",
                "the highest values were in serum b-globulins .",
            ],
        ),
        (
            "A line wrapped\nin the middle of a sentence. And a second sentence of some length.",
            [
                "A line wrapped\nin the middle of a sentence.",
                "And a second sentence of some length.",
            ],
        ),
    ],
)
def test_passages_are_cut_into_sentences_with_their_headings(
    text: str, sentences: list[str]
) -> None:
    assert [text[a:b] for a, b in tx.sentence_spans(text)] == sentences
