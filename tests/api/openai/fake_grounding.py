"""A stand-in for grounded answering behind the `Grounding` seam: answers with one
citation, whole or streamed, and records what it was asked."""

from __future__ import annotations

from mmstack.llm.grounding import RetrievalScope
from mmstack.llm.types import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
)
from mmstack.store.ownership import Owner

ANSWER = "The audit found two issues [1]."
CITATION = {"type": "file_citation", "file_id": "file-abc", "filename": "audit.pdf", "index": 31}


class ListStream:
    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self._chunks = iter(chunks)
        self.closed = False

    def __aiter__(self) -> ListStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.closed = True


class FakeGrounding:
    def __init__(self) -> None:
        self.calls: list[tuple[ChatCompletionRequest, RetrievalScope]] = []
        self.owners: list[Owner] = []

    def for_owner(self, owner: Owner, links: object = None) -> FakeGrounding:
        """Bound to the caller's team, as the stack's grounding is on every request."""
        self.owners.append(owner)
        return self

    async def complete_chat(
        self, request: ChatCompletionRequest, scope: RetrievalScope
    ) -> ChatCompletion:
        self.calls.append((request, scope))
        message = AssistantMessage(content=ANSWER, annotations=[CITATION])
        return ChatCompletion(model=request.model, choices=[Choice(message=message)])

    async def stream_chat(
        self, request: ChatCompletionRequest, scope: RetrievalScope
    ) -> ListStream:
        self.calls.append((request, scope))
        words = ANSWER.split(" ")
        deltas = [Delta(role="assistant", content=words[0])]
        deltas += [Delta(content=" " + word) for word in words[1:]]
        deltas.append(Delta(annotations=[CITATION]))
        chunks = [_chunk(request.model, delta) for delta in deltas]
        chunks.append(_chunk(request.model, Delta(), "stop"))
        return ListStream(chunks)


def _chunk(model: str, delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
    choice = ChunkChoice(delta=delta, finish_reason=finish)
    return ChatCompletionChunk(id="chatcmpl-grounded", created=1, model=model, choices=[choice])
