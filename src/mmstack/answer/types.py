"""What a grounded answer is made of: the answer, its citations, and the streamed events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mmstack.index.search import SearchHit

REFUSAL = "The documents do not say."

RefusalReason = Literal["no_passages", "not_answerable", "model_declined", "unsupported"]


@dataclass(frozen=True, slots=True)
class Citation:
    """What an `[n]` marker in the answer points at: passage `n` given to the model, and the
    span of it that supports the sentences citing it."""

    number: int
    chunk_id: int
    collection_id: str
    file_id: str
    filename: str
    page_start: int | None
    page_end: int | None
    heading_path: list[str]
    quote: str
    # Offsets of `quote` in the file's extracted text (the chunk's offsets plus the quote's).
    quote_start: int
    quote_end: int
    # Where this citation's `[n]` marker is in the answer's text.
    marker_start: int
    marker_end: int
    # Media: the kind of file, the seconds where the quote is spoken or shown, the image
    # showing it (a key of the file's derived images).
    modality: str = "text"
    time_start: float | None = None
    time_end: float | None = None
    thumbnail: str | None = None
    # The box of a picture or page the quote was read from (left, top, right, bottom).
    region: tuple[int, int, int, int] | None = None

    @property
    def location(self) -> str:
        """Where the quote is, for people: `p. 3 · Results > Dose`, or the character range."""
        parts = []
        if self.time_start is not None:
            parts.append(f"at {clock(self.time_start)}")
        if self.page_start is not None:
            pages = self.page_start
            if self.page_end is not None and self.page_end != self.page_start:
                parts.append(f"pp. {pages}-{self.page_end}")
            else:
                parts.append(f"p. {pages}")
        if self.heading_path:
            parts.append(" > ".join(self.heading_path))
        if not parts:
            parts.append(f"chars {self.quote_start}-{self.quote_end}")
        return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    model: str
    text: str
    citations: list[Citation]
    refused: bool
    refusal_reason: RefusalReason | None = None
    # The model's own text before verification (what a plain RAG pipeline would return).
    draft: str = ""
    # The passages the model was given, numbered from 1 in this order.
    passages: list[SearchHit] = field(default_factory=list)
    # The model's probability that the passages hold the answer (None: not asked).
    answerability: float | None = None
    # The model's probability that the text the first fact stands on holds the answer, asked
    # on that text alone (None: not asked). See `answerability.Confirmation`.
    confirmation: float | None = None
    usage: Usage = field(default_factory=Usage)
    # What was searched and answered: the question, or for a follow-up the question it
    # stands for, rewritten from the conversation.
    search_query: str = ""

    def sources(self) -> list[Citation]:
        """One citation per cited passage, by number: the first place it is cited."""
        first: dict[int, Citation] = {}
        for citation in self.citations:
            first.setdefault(citation.number, citation)
        return [first[n] for n in sorted(first)]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More answer text. Streamed text is verified before it is sent, so the deltas joined
    are exactly the final answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerDone:
    """The last event: the whole answer, with its citations."""

    answer: Answer


AnswerEvent = TextDelta | AnswerDone


def clock(seconds: float) -> str:
    """`75.4` -> `1:15`; `3725` -> `1:02:05`."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
