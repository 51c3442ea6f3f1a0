"""What the answer service needs from the rest of the stack (`SearchService` and
`LlmRouter` provide it), so tests can put a fake at either seam."""

from __future__ import annotations

from typing import Protocol

from mmstack.index.filters import SearchFilter
from mmstack.index.search import SearchHit, SearchMode
from mmstack.llm.backend import ChatStream
from mmstack.llm.types import ChatCompletion, ChatCompletionRequest


class Retriever(Protocol):
    def search(
        self,
        query: str,
        *,
        mode: SearchMode | None = None,
        top_k: int | None = None,
        flt: SearchFilter | None = None,
    ) -> list[SearchHit]: ...


class ChatModels(Protocol):
    @property
    def default_model(self) -> str: ...

    def model_ids(self) -> list[str]: ...

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion: ...

    async def stream(self, request: ChatCompletionRequest) -> ChatStream: ...

    async def context_window(self, model: str) -> int | None: ...

    async def count_prompt_tokens(self, request: ChatCompletionRequest) -> int | None: ...
