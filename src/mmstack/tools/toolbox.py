"""mmstack's search, grounded answers and ingestion as an agent's tools, for one caller:
what the MCP server offers. Each tool checks what the caller's key or role allows, sees only
its team's collections (or those its key is limited to), and is counted like the API call
it stands for (search analytics, upload and token quotas)."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from anyio import to_thread

from mmstack.answer import Answer
from mmstack.auth.principal import Principal
from mmstack.auth.quotas import Meter
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.index.filters import SearchFilter
from mmstack.index.search import SearchHit, SearchMode
from mmstack.stack import Stack

MAX_RESULTS = 50


@dataclass(frozen=True, slots=True)
class CollectionSummary:
    id: str
    name: str
    description: str | None
    files: int
    completed_files: int
    chunks: int


class Toolbox:
    """The tools, bound to `principal`."""

    def __init__(self, stack: Stack, principal: Principal) -> None:
        self._stack = stack
        self._principal = principal
        self._collections = stack.collections.for_owner(principal.owner)

    def _allow(self, group: EndpointGroup, permission: Permission) -> None:
        self._principal.require_endpoint(group)
        self._principal.require(permission)

    def collections(self) -> list[CollectionSummary]:
        """The collections the caller may search, oldest first."""
        self._allow(EndpointGroup.COLLECTIONS, Permission.READ)
        return [
            CollectionSummary(
                info.id,
                info.collection.name,
                info.collection.description,
                info.file_counts.total,
                info.file_counts.completed,
                info.chunk_count,
            )
            for info in self._collections.list_all()
        ]

    def collection(self, id_or_name: str) -> dict[str, Any]:
        """One collection and its files (name, state, chunks, where they came from)."""
        self._allow(EndpointGroup.COLLECTIONS, Permission.READ)
        info = self._collections.get(id_or_name)
        files = self._collections.files(info.id)
        return {
            "id": info.id,
            "name": info.collection.name,
            "description": info.collection.description,
            "chunks": info.chunk_count,
            "files": [
                {
                    "id": member.file_id,
                    "filename": member.file.filename,
                    "status": member.status,
                    "chunks": member.chunk_count,
                    "error": member.last_error,
                }
                for member in files
            ],
        }

    def search(
        self,
        query: str,
        *,
        collections: Sequence[str] | None = None,
        top_k: int = 8,
        mode: SearchMode | None = None,
    ) -> list[dict[str, Any]]:
        """The passages that best match `query`, best first."""
        self._allow(EndpointGroup.SEARCH, Permission.READ)
        if not 1 <= top_k <= MAX_RESULTS:
            raise InvalidRequestError(f"top_k must be 1 to {MAX_RESULTS}", param="top_k")
        started = time.perf_counter()
        ids = list(self._collections.resolve_ids(collections)) if collections else None
        search = self._stack.search.for_owner(self._principal.owner)
        hits = search.search(query, mode=mode, top_k=top_k, flt=SearchFilter(collection_ids=ids))
        used = mode or self._stack.settings.search.mode
        self._stack.analytics.record_search(
            team_id=self._principal.team_id,
            user_id=self._principal.user_id,
            query=query,
            mode=used,
            results=len(hits),
            seconds=time.perf_counter() - started,
        )
        names = {c.id: c.name for c in self._collections.list_rows()}
        return [_hit(hit, names.get(hit.collection_id, "")) for hit in hits]

    async def ask(self, question: str, *, collections: Sequence[str] | None = None) -> Answer:
        """A grounded answer from the collections (all the caller's by default), each
        sentence cited; "The documents do not say." when they do not."""
        self._allow(EndpointGroup.CHAT, Permission.READ)
        self._principal.require(Permission.INFER)
        if not question.strip():
            raise InvalidRequestError("question must not be empty", param="question")
        ids = await to_thread.run_sync(self._answer_from, collections)
        meter = Meter(self._stack.auth.quotas, self._principal)
        await to_thread.run_sync(meter.check_tokens)
        answer = await self._stack.answers.answer(question, collection_ids=ids)
        usage = answer.usage
        await to_thread.run_sync(
            meter.record_tokens, answer.model, usage.prompt_tokens, usage.completion_tokens
        )
        return answer

    def _answer_from(self, collections: Sequence[str] | None) -> list[str]:
        """The ids of `collections`, or of all the caller's."""
        if collections:
            return list(self._collections.resolve_ids(collections))
        ids = [c.id for c in self._collections.list_rows()]
        if not ids:
            raise NotFoundError("there is no collection to answer from", param="collections")
        return ids

    def ingest(
        self,
        collection: str,
        filename: str,
        *,
        text: str | None = None,
        content_base64: str | None = None,
        tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Add a file (its text, or its bytes in base64) to a collection and queue its
        ingestion; the same bytes twice are one file."""
        self._allow(EndpointGroup.COLLECTIONS, Permission.WRITE)
        data = _content(text, content_base64)
        collection_id = self._collections.resolve_id(collection)
        # Counted as an upload, as the API's upload routes are (upload_requests_per_minute).
        self._stack.auth.quotas.check_request(self._principal, upload=True)
        meter = Meter(self._stack.auth.quotas, self._principal)
        meter.check_upload(len(data))
        added = self._stack.intake.add_file(collection_id, filename, data, tags=tags)
        if added.created:
            meter.record_upload(len(data))
        member = added.collection_file
        return {
            "collection_id": collection_id,
            "file_id": member.file_id,
            "filename": member.file.filename,
            "status": member.status,
            "duplicate": not added.created,
            "error": member.last_error,
        }


def _content(text: str | None, content_base64: str | None) -> bytes:
    if (text is None) == (content_base64 is None):
        raise InvalidRequestError("give either text or content_base64", param="text")
    if text is not None:
        return text.encode()
    try:
        return base64.b64decode(content_base64 or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("content_base64 is not base64", param="content_base64") from None


def _hit(hit: SearchHit, collection: str) -> dict[str, Any]:
    anchor = hit.anchor
    found: dict[str, Any] = {
        "filename": hit.filename,
        "collection": collection,
        "collection_id": hit.collection_id,
        "file_id": hit.file_id,
        "chunk_id": hit.chunk_id,
        "score": round(hit.score, 6),
        "text": hit.text,
    }
    if anchor.page_start is not None:
        found["page"] = anchor.page_start
    if anchor.heading_path:
        found["section"] = " > ".join(anchor.heading_path)
    if hit.moment is not None:
        found["seconds"] = [round(hit.moment[0], 2), round(hit.moment[1], 2)]
    return found


def tool_answer(answer: Answer) -> dict[str, Any]:
    """An answer as a tool returns it: the text with its `[n]` markers and each source."""
    return {
        "answer": answer.text,
        "refused": answer.refused,
        "sources": [
            {
                "number": c.number,
                "filename": c.filename,
                "file_id": c.file_id,
                "collection_id": c.collection_id,
                "where": c.location,
                "quote": c.quote,
            }
            for c in answer.sources()
        ],
    }
