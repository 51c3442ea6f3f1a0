"""Conversations kept for their user (the console's chat): list, read, rename, share with
the team to read, delete, and ask the next question, answered from the conversation's
collections as a chat-completions event stream whose finished turn is kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mmstack.api.deps import CollectionsDep, PrincipalDep, SettingsDep, authorize, stack_of
from mmstack.api.routes.openai.answer_source import AnswersDep
from mmstack.api.routes.openai.chat_events import chat_events
from mmstack.api.routes.openai.disconnect import unless_disconnected
from mmstack.api.routes.openai.event_stream import EventStreamResponse
from mmstack.api.routes.openai.responses_output import annotations_of
from mmstack.api.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    ListOut,
    QuestionIn,
)
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.errors import InvalidRequestError
from mmstack.knowledge.conversations import ConversationService
from mmstack.llm.backend import ChatStream
from mmstack.llm.grounding import RetrievalScope
from mmstack.llm.types import ChatCompletionChunk, ChatCompletionRequest

# Keeping and reading one's own conversations is part of using the models: a viewer may.
router = APIRouter(
    prefix="/api/conversations",
    tags=["conversations"],
    dependencies=[Depends(authorize(EndpointGroup.CONVERSATIONS, Permission.INFER))],
)


async def get_conversations(request: Request, principal: PrincipalDep) -> ConversationService:
    return stack_of(request).conversations.for_user(principal.user_id, principal.team_id)


ConversationsDep = Annotated[ConversationService, Depends(get_conversations)]


@router.get("")
def list_conversations(
    conversations: ConversationsDep, shared: bool = False
) -> ListOut[ConversationOut]:
    """The caller's conversations, the most recently active first; with `shared=true`,
    the ones others of the team share."""
    found = conversations.shared_with_me() if shared else conversations.own()
    return ListOut(data=[ConversationOut.of(c) for c in found])


@router.post("", status_code=201)
def create_conversation(
    body: ConversationCreate, conversations: ConversationsDep, collections: CollectionsDep
) -> ConversationOut:
    ids = collections.resolve_ids(body.collections)
    return ConversationOut.of(conversations.create(title=body.title, collection_ids=ids), [])


@router.get("/{conversation_id}")
def get_conversation(conversation_id: str, conversations: ConversationsDep) -> ConversationOut:
    """A conversation with its messages: one's own, or one the team shares."""
    detail = conversations.get(conversation_id)
    return ConversationOut.of(detail.conversation, detail.messages)


@router.patch("/{conversation_id}")
def update_conversation(
    conversation_id: str,
    body: ConversationUpdate,
    conversations: ConversationsDep,
    collections: CollectionsDep,
) -> ConversationOut:
    """Rename it, share it with the team (read-only) or stop sharing, or change the
    collections it asks."""
    ids = collections.resolve_ids(body.collections) if body.collections is not None else None
    updated = conversations.update(
        conversation_id, title=body.title, shared=body.shared, collection_ids=ids
    )
    return ConversationOut.of(updated)


@router.delete("/{conversation_id}")
def delete_conversation(conversation_id: str, conversations: ConversationsDep) -> dict[str, object]:
    conversations.delete(conversation_id)
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


@router.post(
    "/{conversation_id}/messages",
    response_class=Response,
    responses={200: {"description": "An event stream of chat.completion.chunk objects"}},
)
async def ask(
    conversation_id: str,
    body: QuestionIn,
    request: Request,
    conversations: ConversationsDep,
    answers: AnswersDep,
    settings: SettingsDep,
) -> Response:
    """Ask the next question. The answer streams as chat completions stream (content
    deltas, `annotations` with the citations); when it ends, the question and the answer
    are kept in the conversation."""
    conversation, messages = await run_in_threadpool(conversations.history, conversation_id)
    if not conversation.collection_ids:
        raise InvalidRequestError(
            "this conversation has no collections to answer from: choose at least one",
            param="collections",
        )
    history = [{"role": m.role, "content": m.content} for m in messages]
    chat = ChatCompletionRequest.model_validate(
        {
            "model": body.model or settings.answer.model or settings.llm.default_model,
            "messages": [*history, {"role": "user", "content": body.content}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    source = answers.source(RetrievalScope(conversation.collection_ids))
    stream = await unless_disconnected(request, source.stream(chat))

    async def keep(answer: str, annotations: list[dict[str, Any]]) -> None:
        await run_in_threadpool(
            conversations.add_turn, conversation.id, body.content, answer, annotations
        )

    kept = KeptStream(stream, keep)
    return EventStreamResponse(chat_events(kept), kept)


class KeptStream:
    """Passes a stream's chunks on, gathering the answer's text and citations; when the
    stream ends whole, `keep` is given them (a stream cut short keeps nothing)."""

    def __init__(
        self,
        inner: ChatStream,
        keep: Callable[[str, list[dict[str, Any]]], Awaitable[None]],
    ) -> None:
        self._inner = inner
        self._keep = keep
        self._text: list[str] = []
        self._annotations: list[dict[str, Any]] = []

    def __aiter__(self) -> KeptStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            await self._keep("".join(self._text), self._annotations)
            raise
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            if choice.delta.content:
                self._text.append(choice.delta.content)
            self._annotations += annotations_of(choice.delta.model_extra)
        return chunk

    async def aclose(self) -> None:
        await self._inner.aclose()
