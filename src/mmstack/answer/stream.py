"""The answer as a stream of events: verified sentences as the model writes them, then the
whole answer with its citations.

A sentence goes out once it is complete and judged (see `verify.py`), so the text streamed
is exactly the final answer's text: nothing sent is ever taken back. The price is latency of
one sentence. A sentence without content (a bare "Yes.") waits for a supported sentence to
go out with, and is left out when none follows; an answer that ends with none becomes the
refusal. With a second look (`Confirm`), the first supported sentence waits for it, and
its no makes the whole answer the refusal: nothing has gone out yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mmstack.answer.citations import Segment, SentenceSplitter
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
from mmstack.answer.verify import Verdict, Verifier, refusal_reason
from mmstack.index.search import SearchHit
from mmstack.llm.backend import ChatStream


class AnswerStream(Protocol):
    """Events of one answer: `TextDelta`s, then one `AnswerDone`. Closing it (or the
    consumer being cancelled) stops the generation."""

    def __aiter__(self) -> AsyncIterator[AnswerEvent]: ...

    async def __anext__(self) -> AnswerEvent: ...

    async def aclose(self) -> None: ...


class Confirm(Protocol):
    """Asked with the passage text the answer's first fact stands on (and where it is from),
    before that fact goes out: whether the answer may go on. `chance` is what it found, for
    the `Answer`."""

    chance: float | None

    async def __call__(self, quote: str, where: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class AnswerContext:
    """What the answer is about, for the final `Answer`."""

    question: str
    model: str
    passages: list[SearchHit]
    answerability: float | None
    prompt_tokens: int
    verify: bool
    search_query: str = ""


@dataclass
class _Assembly:
    text: list[str] = field(default_factory=list)
    length: int = 0
    separator: str = ""
    citations: list[Citation] = field(default_factory=list)
    pending: list[tuple[Segment, Verdict]] = field(default_factory=list)
    sentences: int = 0
    supported: int = 0
    declined_first: bool = False
    unconfirmed: bool = False
    stopped: bool = False


class _Generation:
    """The model's stream being read, closed with the answer's."""

    def __init__(self, chat: ChatStream | None) -> None:
        self.chat = chat
        self.draft: list[str] = []
        self.completion_tokens = 0

    async def aclose(self) -> None:
        if self.chat is not None:
            await self.chat.aclose()


class EventStream:
    """An `AnswerStream` over a generator of events, closing the model's stream with it."""

    def __init__(self, events: AsyncIterator[AnswerEvent], generation: _Generation) -> None:
        self._events = events
        self._generation = generation

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> AnswerEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        closer = getattr(self._events, "aclose", None)
        if closer is not None:
            await closer()
        await self._generation.aclose()


def refusal(context: AnswerContext, reason: RefusalReason, draft: str = "") -> EventStream:
    async def events() -> AsyncIterator[AnswerEvent]:
        yield TextDelta(REFUSAL)
        yield AnswerDone(_refused(context, reason, draft, Usage(context.prompt_tokens, 0), None))

    return EventStream(events(), _Generation(None))


def verified(
    context: AnswerContext, chat: ChatStream, verifier: Verifier, confirm: Confirm | None = None
) -> EventStream:
    """The answer read from `chat`, sentence by sentence as `verifier` judges them; with
    `confirm`, the first supported sentence goes out only if it says so."""
    generation = _Generation(chat)
    return EventStream(_verified_events(context, generation, verifier, confirm), generation)


async def _verified_events(
    context: AnswerContext,
    generation: _Generation,
    verifier: Verifier,
    confirm: Confirm | None,
) -> AsyncIterator[AnswerEvent]:
    state = _Assembly()
    async for event in _read(generation, verifier, state, confirm):
        yield event
    usage = Usage(context.prompt_tokens, generation.completion_tokens)
    draft = "".join(generation.draft)
    confirmation = confirm.chance if confirm is not None else None
    reason: RefusalReason | None = "not_answerable" if state.unconfirmed else None
    reason = reason or refusal_reason(
        verify=context.verify,
        declined_first=state.declined_first,
        supported=state.supported,
        sentences=state.sentences,
    )
    if reason is not None:
        yield TextDelta(REFUSAL)
        yield AnswerDone(_refused(context, reason, draft, usage, confirmation))
        return
    # Sentences without content after the last fact ("This is stated in [2].", "Hope this
    # helps.") are left out: they only talk about the answer.
    answer = Answer(
        question=context.question,
        model=context.model,
        text="".join(state.text),
        citations=state.citations,
        refused=False,
        draft=draft,
        passages=context.passages,
        answerability=context.answerability,
        confirmation=confirmation,
        usage=usage,
        search_query=context.search_query,
    )
    yield AnswerDone(answer)


async def _read(
    generation: _Generation, verifier: Verifier, state: _Assembly, confirm: Confirm | None
) -> AsyncIterator[AnswerEvent]:
    """Verified sentences of the model's current stream, until it ends or declines."""
    chat = generation.chat
    assert chat is not None
    splitter = SentenceSplitter()
    try:
        async for chunk in chat:
            if chunk.usage is not None:
                generation.completion_tokens += chunk.usage.completion_tokens
            delta = "".join(choice.delta.content or "" for choice in chunk.choices)
            if not delta:
                continue
            generation.draft.append(delta)
            for segment in splitter.feed(delta):
                for event in await _take(state, verifier, segment, confirm):
                    yield event
                if state.stopped:
                    return
        for segment in splitter.flush():
            for event in await _take(state, verifier, segment, confirm):
                yield event
            if state.stopped:
                return
    finally:
        await chat.aclose()


async def _take(
    state: _Assembly, verifier: Verifier, segment: Segment, confirm: Confirm | None
) -> Sequence[AnswerEvent]:
    verdict = await asyncio.to_thread(verifier.judge, segment.text)
    first_fact = verdict.states_fact and verdict.supports and not state.supported
    if (
        confirm is not None
        and first_fact
        and not verdict.stop
        and not await confirm(*verifier.quote_and_source(verdict.supports[0]))
    ):
        state.stopped = state.unconfirmed = True
        return []
    if verdict.stop:
        state.stopped = True
        state.declined_first = state.sentences == 0
        if verdict.text is None or state.declined_first:
            return []
        # What the documents do not cover, after what they do: it goes out last.
    elif verdict.text is None:
        return []
    elif not verdict.states_fact:
        state.pending.append((segment, verdict))
        return []
    events = [_emit(state, verifier, *waiting) for waiting in state.pending]
    state.pending.clear()
    events.append(_emit(state, verifier, segment, verdict))
    if not verdict.stop:
        state.supported += 1
    return events


def _emit(state: _Assembly, verifier: Verifier, segment: Segment, verdict: Verdict) -> TextDelta:
    sentence = verdict.text or ""
    lead = state.separator if state.sentences else ""
    offset = state.length + len(lead)
    state.citations += verifier.citations(sentence, verdict.supports, offset)
    piece = lead + sentence
    state.text.append(piece)
    state.length += len(piece)
    state.separator = segment.separator or " "
    state.sentences += 1
    return TextDelta(piece)


def _refused(
    context: AnswerContext,
    reason: RefusalReason,
    draft: str,
    usage: Usage,
    confirmation: float | None,
) -> Answer:
    return Answer(
        question=context.question,
        model=context.model,
        text=REFUSAL,
        citations=[],
        refused=True,
        refusal_reason=reason,
        draft=draft,
        passages=context.passages,
        answerability=context.answerability,
        confirmation=confirmation,
        usage=usage,
        search_query=context.search_query,
    )
