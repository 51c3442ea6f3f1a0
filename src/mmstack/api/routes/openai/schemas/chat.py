"""The chat-completions request as `/v1/chat/completions` takes it: OpenAI's fields (and
any other, passed on to the backend) plus mmstack's `vector_store_ids`."""

from __future__ import annotations

from pydantic import Field

from mmstack.llm.grounding import RetrievalScope
from mmstack.llm.types import ChatCompletionRequest


class ChatCompletionBody(ChatCompletionRequest):
    vector_store_ids: list[str] | None = Field(
        None,
        min_length=1,
        description="mmstack extension: answer from these vector stores, with citations",
    )

    def chat_request(self) -> ChatCompletionRequest:
        """The request without mmstack's fields, as the backends take it."""
        values = {name: value for name, value in self if name != "vector_store_ids"}
        # Already validated: copied over as they are, unset fields still unset.
        return ChatCompletionRequest.model_construct(
            self.model_fields_set - {"vector_store_ids"}, **values
        )

    def retrieval(self) -> RetrievalScope | None:
        return RetrievalScope(self.vector_store_ids) if self.vector_store_ids else None
