"""Where an answer comes from: the LLM router, or grounded answering when the request names
vector stores to answer from."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from mmstack.api.deps import stack_of
from mmstack.llm.backend import ChatStream
from mmstack.llm.grounding import Grounding, RetrievalScope
from mmstack.llm.router import LlmRouter
from mmstack.llm.types import ChatCompletion, ChatCompletionRequest


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
        answer = await self._grounding.answer_chat(whole, self._scope)
        if not isinstance(answer, ChatCompletion):
            await answer.aclose()
            raise TypeError("grounded answering streamed an answer asked for whole")
        return answer

    async def stream(self, request: ChatCompletionRequest) -> ChatStream:
        streamed = request.for_model(request.model, stream=True)
        answer = await self._grounding.answer_chat(streamed, self._scope)
        if isinstance(answer, ChatCompletion):
            raise TypeError("grounded answering answered whole when asked to stream")
        return answer


class Answers:
    """The sources a request may use: the router, and grounded answering (`Grounding`)."""

    def __init__(self, llm: LlmRouter, grounding: Grounding) -> None:
        self.llm = llm
        self._grounding = grounding

    def source(self, scope: RetrievalScope | None) -> AnswerSource:
        """The router, or grounded answering over `scope`."""
        if scope is None:
            return self.llm
        return GroundedSource(self._grounding, scope)


async def get_answers(request: Request) -> Answers:
    stack = stack_of(request)
    return Answers(stack.llm, stack.grounded_chat)


AnswersDep = Annotated[Answers, Depends(get_answers)]
