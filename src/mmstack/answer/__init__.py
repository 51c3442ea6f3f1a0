"""Grounded answers with citations over the user's documents."""

from mmstack.answer.service import AnswerService
from mmstack.answer.stream import AnswerStream
from mmstack.answer.types import (
    REFUSAL,
    Answer,
    AnswerDone,
    AnswerEvent,
    Citation,
    RefusalReason,
    TextDelta,
    Usage,
)

__all__ = [
    "REFUSAL",
    "Answer",
    "AnswerDone",
    "AnswerEvent",
    "AnswerService",
    "AnswerStream",
    "Citation",
    "RefusalReason",
    "TextDelta",
    "Usage",
]
