"""Grounded answers: a follow-up rewritten to stand alone, hybrid retrieval, passages packed
into the model's budget, an optional answerability check, an answer with `[n]` citations,
and sentence-level verification."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from mmstack.answer import prompts
from mmstack.answer.admission import AnswerSlots, HeldStream
from mmstack.answer.answerability import Confirmation, probability_yes
from mmstack.answer.followups import Turn, standalone_question
from mmstack.answer.packing import pack
from mmstack.answer.ports import ChatModels, Retriever
from mmstack.answer.stream import AnswerContext, AnswerStream, refusal, verified
from mmstack.answer.support import SupportChecker
from mmstack.answer.types import Answer, AnswerDone
from mmstack.answer.verify import Verifier
from mmstack.config.settings import AnswerSettings
from mmstack.errors import InvalidRequestError
from mmstack.index.filters import SearchFilter
from mmstack.index.search import SearchHit
from mmstack.llm.errors import ContextLengthExceededError, UnknownModelError
from mmstack.llm.types import ChatCompletionRequest
from mmstack.models.embedder import Embedder

log = logging.getLogger(__name__)


class AnswerService:
    def __init__(
        self,
        search: Retriever,
        llm: ChatModels,
        embedder: Embedder,
        settings: AnswerSettings,
    ) -> None:
        self._search = search
        self._llm = llm
        self._embedder = embedder
        self._settings = settings
        self._slots = AnswerSlots(settings.max_in_flight)

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        collection_ids: Sequence[str] | None = None,
        file_ids: Sequence[str] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        instructions: str | None = None,
    ) -> Answer:
        """The whole answer (see `stream` for the arguments and the errors)."""
        stream = await self.stream(
            question,
            history=history,
            collection_ids=collection_ids,
            file_ids=file_ids,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            instructions=instructions,
        )
        try:
            async for event in stream:
                if isinstance(event, AnswerDone):
                    return event.answer
        finally:
            await stream.aclose()
        raise AssertionError("an answer stream always ends with AnswerDone")

    async def stream(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        collection_ids: Sequence[str] | None = None,
        file_ids: Sequence[str] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        instructions: str | None = None,
    ) -> AnswerStream:
        """Starts answering `question` from the chunks of `collection_ids` (vector store ids
        are collection ids) and/or `file_ids`; None searches everything, an empty list
        nothing. `history` is the conversation before the question, oldest first: a
        follow-up is searched and answered as the question it stands for. Returns once the
        answer has started, so an unknown model, a question over the context window or an
        unavailable backend raises here, before any event. `max_tokens` and `temperature`
        default to the `answer` settings; `instructions` are added to the system prompt.
        Past `answer.max_in_flight` answers in progress, a RateLimitError."""
        self._slots.take()
        try:
            started = await self._start(
                question,
                history=history,
                collection_ids=collection_ids,
                file_ids=file_ids,
                model=model,
                max_tokens=max_tokens,
                temperature=temperature,
                instructions=instructions,
            )
        except BaseException:
            self._slots.give_back()
            raise
        return HeldStream(started, self._slots)

    async def _start(
        self,
        question: str,
        *,
        history: Sequence[Turn],
        collection_ids: Sequence[str] | None,
        file_ids: Sequence[str] | None,
        model: str | None,
        max_tokens: int | None,
        temperature: float | None,
        instructions: str | None,
    ) -> AnswerStream:
        settings = self._settings
        if not question.strip():
            raise InvalidRequestError("the question must not be empty", param="question")
        model = model or settings.model or self._llm.default_model
        known = self._llm.model_ids()
        if model not in known:
            raise UnknownModelError(model, known)
        answer_tokens = max_tokens or settings.max_answer_tokens
        flt = SearchFilter(
            collection_ids=None if collection_ids is None else list(collection_ids),
            file_ids=None if file_ids is None else list(file_ids),
        )
        asked = question
        question = await standalone_question(self._llm, model, history, question)
        if question != asked:
            log.info("follow-up rewritten", extra={"asked": asked, "searched": question})
        hits = await asyncio.to_thread(
            self._search.search, question, mode="hybrid", top_k=settings.top_k, flt=flt
        )
        window = await self._llm.context_window(model)
        budget = settings.max_prompt_tokens
        if window is not None:
            budget = min(budget, window - answer_tokens)

        def build(passages: Sequence[SearchHit]) -> ChatCompletionRequest:
            return prompts.request(
                model, question, passages, prompts.ANSWER, instructions=instructions
            )

        packed = await pack(hits, build, self._llm.count_prompt_tokens, budget)
        if packed.prompt_tokens > budget:
            raise ContextLengthExceededError(
                packed.prompt_tokens,
                window,
                model,
                detail=f"the question alone takes {packed.prompt_tokens} of the "
                f"{budget} prompt tokens left for it",
            )
        passages = packed.passages
        context = AnswerContext(
            asked, model, passages, None, packed.prompt_tokens, settings.verify, question
        )
        if not passages:
            return refusal(context, "no_passages")
        checker = SupportChecker(
            self._embedder,
            min_lexical=settings.min_lexical_support,
            min_semantic=settings.min_semantic_support,
        )
        indexing = asyncio.to_thread(checker.index, [hit.text for hit in passages])
        confirm: Confirmation | None = None
        if settings.answerability_check:
            gate = prompts.request(
                model, question, passages, prompts.ANSWERABLE, instructions=instructions
            )
            chance, _ = await asyncio.gather(probability_yes(self._llm, gate), indexing)
            context = dataclasses.replace(context, answerability=chance)
            threshold = settings.answerability_threshold
            second_look = settings.answerability_confirm and settings.verify
            if second_look and Confirmation.possible(chance, threshold):
                confirm = Confirmation(self._llm, model, question, chance, threshold)
            elif second_look or chance < threshold:
                log.info("answer refused: not answerable", extra={"p_yes": round(chance, 3)})
                return refusal(context, "not_answerable")
        else:
            await indexing
        fields = {
            "max_tokens": answer_tokens,
            "temperature": settings.temperature if temperature is None else temperature,
            "stream_options": {"include_usage": True},
        }
        request = prompts.request(
            model, question, passages, prompts.ANSWER, instructions=instructions, **fields
        )
        chat = await self._llm.stream(request)
        verifier = Verifier(question, passages, checker, verify=settings.verify)
        return verified(context, chat, verifier, confirm)
