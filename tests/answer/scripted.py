"""A chat model at the LLM seam that answers from a script: the answerability check gets
YES with a set probability (the second look at the first fact's passage text its own),
the answer gets a set text, streamed a few characters at a time,
and a follow-up's rewrite (the one whole completion asked for) a set question.
"""

from __future__ import annotations

import math

from mmstack.answer import prompts
from mmstack.llm.types import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
)

MODEL = "scripted-model"


class ListStream:
    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self._chunks = iter(chunks)
        self.closed = False

    def __aiter__(self) -> ListStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self.closed:
            raise StopAsyncIteration
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.closed = True


class ScriptedModels:
    default_model = MODEL

    def __init__(
        self,
        answer: str,
        *,
        p_yes: float = 0.9,
        window: int | None = 4096,
        rewrite: str = "",
        p_confirm: float | None = None,
    ) -> None:
        self.answer = answer
        self.rewrite = rewrite  # the standalone question a follow-up is rewritten as
        self.completions: list[ChatCompletionRequest] = []
        self.p_yes = p_yes
        self.p_confirm = p_yes if p_confirm is None else p_confirm
        self.window = window
        self.requests: list[ChatCompletionRequest] = []
        self.streams: list[ListStream] = []

    def model_ids(self) -> list[str]:
        return [MODEL]

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        self.completions.append(request)
        message = AssistantMessage(content=self.rewrite)
        return ChatCompletion(model=MODEL, choices=[Choice(message=message, finish_reason="stop")])

    async def stream(self, request: ChatCompletionRequest) -> ListStream:
        self.requests.append(request)
        if request.max_tokens == 1:
            confirming = prompts.CONFIRM in str(request.messages[-1].content)
            stream = ListStream([self._yes_no(self.p_confirm if confirming else self.p_yes)])
        else:
            text = self.answer
            pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
            stream = ListStream([_chunk(Delta(content=piece)) for piece in pieces])
        self.streams.append(stream)
        return stream

    async def context_window(self, model: str) -> int | None:
        return self.window

    async def count_prompt_tokens(self, request: ChatCompletionRequest) -> int | None:
        return None

    def answers_asked(self) -> int:
        return sum(1 for r in self.requests if r.max_tokens != 1)

    def confirmations(self) -> list[ChatCompletionRequest]:
        return [r for r in self.requests if prompts.CONFIRM in str(r.messages[-1].content)]

    def _yes_no(self, p_yes: float) -> ChatCompletionChunk:
        yes, no = max(p_yes, 1e-9), max(1 - p_yes, 1e-9)
        top = [
            {"token": "YES", "logprob": math.log(yes)},
            {"token": "NO", "logprob": math.log(no)},
        ]
        first = top[0] if yes >= no else top[1]
        logprobs = {"content": [{**first, "top_logprobs": top}]}
        delta = Delta(content=str(first["token"]))
        return _chunk(delta, logprobs=logprobs)


def _chunk(delta: Delta, **choice: object) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id="chatcmpl-scripted",
        created=0,
        model=MODEL,
        choices=[ChunkChoice(delta=delta, **choice)],
    )
