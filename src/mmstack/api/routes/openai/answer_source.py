"""Where an answer comes from: the LLM router, or grounded answering when the request names
vector stores to answer from or a knowledge model (`knowledge.knowledge_models`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from mmstack.api.citation_links import RequestCitationLinks
from mmstack.api.deps import MeterDep, PrincipalDep, stack_of
from mmstack.auth.quotas import Meter
from mmstack.index.attribute_filter import AttributeFilter, Compound
from mmstack.knowledge.knowledge_models import KnowledgeModels
from mmstack.llm.backend import ChatStream
from mmstack.llm.grounding import Grounding, RetrievalScope
from mmstack.llm.router import LlmRouter
from mmstack.llm.types import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Usage


class AnswerSource(Protocol):
    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion: ...

    async def stream(self, request: ChatCompletionRequest) -> ChatStream:
        """A started stream: errors before the first chunk raise here."""


class GroundedSource:
    def __init__(self, grounding: Grounding, scope: RetrievalScope) -> None:
        self._grounding = grounding
        self._scope = scope

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        whole = request.for_model(request.model, stream=False)
        return await self._grounding.complete_chat(whole, self._scope)

    async def stream(self, request: ChatCompletionRequest) -> ChatStream:
        streamed = request.for_model(request.model, stream=True)
        return await self._grounding.stream_chat(streamed, self._scope)


class MeteredSource:
    """A source whose calls are refused when the caller's daily tokens are used up, and
    whose usage is accounted to the caller (per user, key and model)."""

    def __init__(self, inner: AnswerSource, meter: Meter) -> None:
        self._inner = inner
        self._meter = meter

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        await run_in_threadpool(self._meter.check_tokens)
        completion = await self._inner.complete(request)
        usage = completion.usage
        await run_in_threadpool(
            self._meter.record_tokens,
            request.model,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )
        return completion

    async def stream(self, request: ChatCompletionRequest) -> ChatStream:
        await run_in_threadpool(self._meter.check_tokens)
        return MeteredStream(await self._inner.stream(request), self._meter, request.model)


class MeteredStream:
    """Passes a stream's chunks on and accounts its usage when it ends: the usage the
    stream reports, else one completion token per content chunk (what llama.cpp and vLLM
    send) and an unknown prompt."""

    def __init__(self, inner: ChatStream, meter: Meter, model: str) -> None:
        self._inner = inner
        self._meter = meter
        self._model = model
        self._usage: Usage | None = None
        self._chunks = 0
        self._recorded = False

    def __aiter__(self) -> MeteredStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            await self._record()
            raise
        if chunk.usage is not None:
            self._usage = chunk.usage
        if any(choice.delta.content for choice in chunk.choices):
            self._chunks += 1
        return chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            await self._record()

    async def _record(self) -> None:
        if self._recorded:
            return
        self._recorded = True
        prompt, completion = (
            (self._usage.prompt_tokens, self._usage.completion_tokens)
            if self._usage
            else (0, self._chunks)
        )
        await run_in_threadpool(self._meter.record_tokens, self._model, prompt, completion)


@dataclass(frozen=True, slots=True)
class Routed:
    """Where a request goes: the source, the request as that source takes it, and the
    retrieval scope (None: not grounded)."""

    source: AnswerSource
    request: ChatCompletionRequest
    scope: RetrievalScope | None


class Answers:
    """The sources a request may use: the router, and grounded answering (`Grounding`),
    each metered for the caller."""

    def __init__(
        self, llm: LlmRouter, grounding: Grounding, meter: Meter, knowledge: KnowledgeModels
    ) -> None:
        self.llm = llm
        self._grounding = grounding
        self._meter = meter
        self._knowledge = knowledge

    def source(self, scope: RetrievalScope | None) -> AnswerSource:
        """The router, or grounded answering over `scope`."""
        if scope is None:
            return MeteredSource(self.llm, self._meter)
        return MeteredSource(GroundedSource(self._grounding, scope), self._meter)

    def route(self, chat: ChatCompletionRequest, scope: RetrievalScope | None) -> Routed:
        """Where `chat` goes. A knowledge model answers from its collections (and any vector
        stores the request names besides), with links on its citations; a client's own
        background request to it (a title, tags) goes to its chat model ungrounded."""
        known = self._knowledge.find(chat.model)
        if known is None:
            return Routed(self.source(scope), chat, scope)
        if self._knowledge.is_housekeeping(chat.messages[-1].text()):
            plain = chat.for_model(known.model, stream=bool(chat.stream))
            return Routed(self.source(None), plain, None)
        grounded = RetrievalScope(
            [*known.collection_ids, *(scope.vector_store_ids if scope else ())],
            filters=known.filters,
            model=known.model,
            instructions=known.instructions,
            links=True,
            source_list=self._knowledge.settings.source_list,
            source_events=self._knowledge.settings.open_webui_sources,
        )
        if scope is not None:
            grounded = dataclasses.replace(
                grounded,
                max_num_results=scope.max_num_results,
                filters=_both(known.filters, scope.filters),
            )
        return Routed(self.source(grounded), chat, grounded)


def _both(first: AttributeFilter | None, second: AttributeFilter | None) -> AttributeFilter | None:
    if first is None or second is None:
        return first or second
    return Compound("and", (first, second))


async def get_answers(request: Request, principal: PrincipalDep, meter: MeterDep) -> Answers:
    stack = stack_of(request)
    owner = principal.owner
    signer = stack.auth.links
    links = (
        RequestCitationLinks(signer, str(request.base_url), owner.team_id)
        if signer.enabled
        else None
    )
    return Answers(
        stack.llm,
        stack.grounded_chat.for_owner(owner, links),
        meter,
        stack.knowledge_models.for_owner(owner),
    )


AnswersDep = Annotated[Answers, Depends(get_answers)]
