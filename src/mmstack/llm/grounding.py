"""The seam between the OpenAI-compatible endpoints and grounded answering (retrieval over
vector stores, answers with citations).

`/v1/chat/completions` with `vector_store_ids` and `/v1/responses` with the `file_search`
tool call `Stack.grounded_chat` (`mmstack.answer.chat.GroundedChat`): `complete_chat` for
a whole answer, `stream_chat` for a streamed one.

Citations travel as `annotations` on the assistant message (whole answers) or on a chunk's
delta (streamed answers), each in the Responses API's `file_citation` shape:
`{"type": "file_citation", "file_id": ..., "filename": ..., "index": <offset in the text>}`.
`/v1/responses` puts them on its output text; `/v1/chat/completions` passes them on as sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mmstack.index.attribute_filter import AttributeFilter
from mmstack.llm.backend import ChatStream
from mmstack.llm.types import ChatCompletion, ChatCompletionRequest


@dataclass(frozen=True, slots=True)
class RetrievalScope:
    """Where to look: the vector stores, and file_search's options when the request came
    through the Responses API (None: the service's defaults)."""

    vector_store_ids: Sequence[str]
    max_num_results: int | None = None
    filters: AttributeFilter | None = None  # on the files' attributes
    # Set by a knowledge model: the chat model that answers (else the request's), the
    # administrator's instructions, whether citations come with links (`url_citation`) and
    # whether the answer ends with a list of its sources.
    model: str | None = None
    instructions: str | None = None
    links: bool = False
    source_list: bool = False
    # Streamed citations as Open WebUI's source events rather than `url_citation`s.
    source_events: bool = False


@runtime_checkable
class Grounding(Protocol):
    async def complete_chat(
        self, request: ChatCompletionRequest, scope: RetrievalScope
    ) -> ChatCompletion:
        """The whole answer to `request` from what `scope` holds."""

    async def stream_chat(
        self, request: ChatCompletionRequest, scope: RetrievalScope
    ) -> ChatStream:
        """The answer to `request` from what `scope` holds as a started stream (same
        contract as `ChatBackend.stream`: errors before the first chunk raise here)."""
