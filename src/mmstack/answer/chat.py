"""Grounded answers in the chat-completions shape: the `Grounding` seam that
`/v1/chat/completions` (with `vector_store_ids`) and `/v1/responses` (with `file_search`)
call.

The question is the last user message; the user and assistant messages before it are the
conversation a follow-up is read in (see `followups.py`). Citations travel as
`file_citation` annotations whose `index` is the offset of the `[n]` marker in the text,
with mmstack's additions: the passage number, the quoted span and where it is (pages,
headings, character offsets in the file's text).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from mmstack.answer.followups import Turn
from mmstack.answer.service import AnswerService
from mmstack.answer.source_numbers import SourceNumbers
from mmstack.answer.stream import AnswerStream
from mmstack.answer.types import Answer, AnswerDone, Citation, TextDelta
from mmstack.errors import InvalidRequestError
from mmstack.knowledge.collections import CollectionService
from mmstack.llm.grounding import RetrievalScope
from mmstack.llm.types import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
    new_completion_id,
)
from mmstack.store.ownership import Owner
from mmstack.urls import thumbnail_url


class CitationLinks(Protocol):
    def url(self, citation: Citation) -> str:
        """A link a browser opens to the cited place."""


class GroundedChat:
    def __init__(
        self,
        answers: AnswerService,
        vector_stores: CollectionService,
        links: CitationLinks | None = None,
    ) -> None:
        self._answers = answers
        self._vector_stores = vector_stores
        self._links = links

    def for_owner(self, owner: Owner, links: CitationLinks | None = None) -> GroundedChat:
        """Answers only from the vector stores `owner` may see; with `links`, each citation
        also comes as a `url_citation` with a link to the cited place."""
        return GroundedChat(self._answers, self._vector_stores.for_owner(owner), links)

    async def complete_chat(
        self, request: ChatCompletionRequest, scope: RetrievalScope
    ) -> ChatCompletion:
        question, arguments = self._asked(request, scope)
        answer = await self._answers.answer(question, **arguments)
        links = self._links if scope.links else None
        if links is not None:  # numbered as the links are ordered (see `GroundedStream`)
            answer = SourceNumbers().answer(answer)
        text = answer.text + (source_list(answer, links) if scope.source_list else "")
        message = AssistantMessage(content=text, annotations=citation_annotations(answer, links))
        return ChatCompletion(
            model=request.model,
            choices=[Choice(message=message, finish_reason="stop")],
            usage=_usage(answer),
        )

    async def stream_chat(
        self, request: ChatCompletionRequest, scope: RetrievalScope
    ) -> GroundedStream:
        question, arguments = self._asked(request, scope)
        events = await self._answers.stream(question, **arguments)
        return GroundedStream(
            events,
            request,
            self._links if scope.links else None,
            source_list=scope.source_list,
            source_events=scope.source_events and scope.links,
        )

    def _asked(
        self, request: ChatCompletionRequest, scope: RetrievalScope
    ) -> tuple[str, dict[str, Any]]:
        """The question, and the answer service's arguments for the rest of the request."""
        question, history = _conversation(request)
        # An unknown (or another team's) store is a 404 before any work.
        store_ids = self._vector_stores.resolve_ids(scope.vector_store_ids)
        arguments: dict[str, Any] = {
            "history": history,
            "collection_ids": store_ids,
            # Attribute filters choose the files; none matching leaves nothing to answer from.
            "file_ids": None
            if scope.filters is None
            else self._vector_stores.matching_file_ids(store_ids, scope.filters),
            "model": scope.model or request.model,
            "instructions": scope.instructions,
            "max_tokens": request.max_completion_tokens or request.max_tokens,
            "temperature": request.temperature,
        }
        return question, arguments


class GroundedStream:
    """Answer events as chat chunks: the role, the verified text as it comes, then the
    citations in one delta, then the end (with usage when the client asked for it)."""

    def __init__(
        self,
        events: AnswerStream,
        request: ChatCompletionRequest,
        links: CitationLinks | None = None,
        *,
        source_list: bool = False,
        source_events: bool = False,
    ) -> None:
        """With `links` (a knowledge model's answer), sources are numbered by appearance and
        cited with links too."""
        self._events = events
        self._links = links
        self._numbers = SourceNumbers() if links is not None else None
        self._source_list = source_list
        self._source_events = source_events
        self._model = request.model
        self._include_usage = bool((request.stream_options or {}).get("include_usage"))
        self._id = new_completion_id()
        self._pending: list[ChatCompletionChunk] = [self._chunk(Delta(role="assistant"))]
        self._finished = False

    def __aiter__(self) -> GroundedStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        while not self._pending:
            if self._finished:
                raise StopAsyncIteration
            event = await anext(self._events, None)
            if event is None:
                self._finished = True
            elif isinstance(event, TextDelta):
                if event.text:
                    text = self._numbers.text(event.text) if self._numbers else event.text
                    self._pending.append(self._chunk(Delta(content=text)))
            elif isinstance(event, AnswerDone):
                answer = event.answer
                self._pending += self._ending(
                    self._numbers.answer(answer) if self._numbers else answer
                )
                self._finished = True
        return self._pending.pop(0)

    async def aclose(self) -> None:
        await self._events.aclose()

    def _ending(self, answer: Answer) -> list[ChatCompletionChunk]:
        chunks = []
        sources = source_list(answer, self._links) if self._source_list else ""
        if sources:
            chunks.append(self._chunk(Delta(content=sources)))
        if answer.citations and self._source_events:
            chunks += [self._event(event) for event in source_events(answer, self._links)]
            files = citation_annotations(answer)  # the links are in the events
            chunks.append(self._chunk(Delta(annotations=files)))
        elif answer.citations:
            annotations = citation_annotations(answer, self._links)
            chunks.append(self._chunk(Delta(annotations=annotations)))
        chunks.append(self._chunk(Delta(), finish_reason="stop"))
        if self._include_usage:
            last = ChatCompletionChunk(
                id=self._id,
                created=chunks[0].created,
                model=self._model,
                choices=[],
                usage=_usage(answer),
            )
            chunks.append(last)
        return chunks

    def _event(self, event: dict[str, Any]) -> ChatCompletionChunk:
        """A chunk with no choices that carries an event for Open WebUI to emit."""
        return ChatCompletionChunk(
            id=self._id, created=_now(), model=self._model, choices=[], event=event
        )

    def _chunk(self, delta: Delta, finish_reason: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self._id,
            created=_now(),
            model=self._model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)],
        )


def _annotation(citation: Citation) -> dict[str, Any]:
    return {
        "type": "file_citation",
        "file_id": citation.file_id,
        "collection_id": citation.collection_id,
        "filename": citation.filename,
        "index": citation.marker_start,
        "passage": citation.number,
        "quote": citation.quote,
        "location": citation.location,
        "page_start": citation.page_start,
        "page_end": citation.page_end,
        "heading_path": citation.heading_path,
        "quote_start": citation.quote_start,
        "quote_end": citation.quote_end,
        "modality": citation.modality,
        "start_seconds": citation.time_start,
        "end_seconds": citation.time_end,
        "thumbnail_url": thumbnail_url(citation.file_id, citation.thumbnail),
        "region": list(citation.region) if citation.region else None,
    }


def citation_annotations(
    answer: Answer, links: CitationLinks | None = None
) -> list[dict[str, Any]]:
    """Each citation as a `file_citation`, and with `links` as a `url_citation` too (the
    shape chat clients render)."""
    found = [_annotation(citation) for citation in answer.citations]
    if links is not None:
        # One link per source, in the order of their numbers: clients that show `[k]` as
        # the k-th link they were given (Open WebUI) then show the right one.
        found += [_url_annotation(c, links.url(c)) for c in sources_of(answer)]
    return found


def source_events(answer: Answer, links: CitationLinks | None) -> list[dict[str, Any]]:
    """Each source as an Open WebUI source event (a streamed chunk's `event` is emitted to
    the browser as it is): the quote, the file and where in it, the link."""
    events = []
    for citation in sources_of(answer):
        title = _title(citation)
        url = links.url(citation) if links is not None else None
        # Open WebUI groups and names a source by its metadata's `source`.
        place = {
            "source": title,
            "name": title,
            "file": citation.filename,
            # Open WebUI counts pages from 0 (its loaders do) and shows page + 1.
            "page": None if citation.page_start is None else citation.page_start - 1,
            "start_seconds": citation.time_start,
        }
        source = {"name": title, **({"url": url} if url else {})}
        events.append(
            {
                "type": "source",
                "data": {
                    "source": source,
                    "document": [citation.quote],
                    "metadata": [{k: v for k, v in place.items() if v is not None}],
                },
            }
        )
    return events


def source_list(answer: Answer, links: CitationLinks | None) -> str:
    """The answer's sources as a Markdown list to put after it, for clients that show no
    annotations: each passage once, by its number, linked when links are on."""
    lines = []
    for citation in sources_of(answer):
        title = _title(citation)
        if links is not None:
            title = f"[{title}]({links.url(citation)})"
        lines.append(f"[{citation.number}] {title}")
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


def sources_of(answer: Answer) -> list[Citation]:
    """Each cited passage once (its first citation), by number."""
    first: dict[int, Citation] = {}
    for citation in answer.citations:
        first.setdefault(citation.number, citation)
    return [first[number] for number in sorted(first)]


def _url_annotation(citation: Citation, url: str) -> dict[str, Any]:
    """A citation as OpenAI's chat completions give a web search's: the marker's span, a
    title and the link."""
    return {
        "type": "url_citation",
        "url_citation": {
            "start_index": citation.marker_start,
            "end_index": citation.marker_end,
            "title": _title(citation),
            "url": url,
        },
    }


def _title(citation: Citation) -> str:
    location = citation.location
    return f"{citation.filename}, {location}" if location else citation.filename


def _conversation(request: ChatCompletionRequest) -> tuple[str, list[Turn]]:
    """The question (the last user message) and the user and assistant turns before it."""
    messages = request.messages
    for position in range(len(messages) - 1, -1, -1):
        if messages[position].role == "user":
            text = messages[position].text().strip()
            if text:
                history = [
                    Turn("user" if m.role == "user" else "assistant", m.text())
                    for m in messages[:position]
                    if m.role in ("user", "assistant")
                ]
                return text, history
            break
    raise InvalidRequestError(
        "grounded answers need a last user message with text: the question", param="messages"
    )


def _usage(answer: Answer) -> Usage:
    prompt, completion = answer.usage.prompt_tokens, answer.usage.completion_tokens
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _now() -> int:
    return int(time.time())
