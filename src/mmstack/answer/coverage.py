"""Do the passages mention what the question is about?

A question that can be answered from a passage is about things the passage names: its
content words (stemmed, stop words aside) are in it. A question close in topic that the
passage cannot answer usually asks about something it does not name (another population,
another measure, another compound), and a small model then answers with a nearby fact.
So before any model call, each passage's coverage of the question's key terms is measured;
passages below the threshold are not given to the model, and with none left the answer is
a refusal.

Words that only say what kind of answer is wanted ("what percentage", "which agent", "where
were they located", "at what concentration") are not key terms: the passage states the
answer (25 %, iodine, the abdomen) without them.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmstack.answer import text as tx

# Said in the question to ask for a kind of answer; stemmed like content words.
_FRAMING_WORDS = (
    "kind type sort name called method technique agent form "
    "number amount percentage percent proportion fraction ratio concentration level "
    "rate value mean average range size duration time long often "
    "years months weeks days hours minutes produce produced obtained located location "
    "result results effect caused observed measured gave given"
)
FRAMING = frozenset(tx.content_words(_FRAMING_WORDS))


def key_terms(question: str) -> set[str]:
    """The question's content words that a passage answering it would name."""
    terms = tx.content_words(question.lower())
    return terms - FRAMING or terms


def coverage(terms: set[str], passage: str) -> float:
    """Share of `terms` that `passage` names (1.0 for no terms)."""
    if not terms:
        return 1.0
    return len(terms & tx.content_words(passage.lower())) / len(terms)


def covering(question: str, passages: Sequence[str], minimum: float) -> list[int]:
    """Indexes of the passages naming at least `minimum` of the question's key terms."""
    terms = key_terms(question)
    return [i for i, text in enumerate(passages) if coverage(terms, text) >= minimum]
