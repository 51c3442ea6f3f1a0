"""The Conversations API: conversations whose items a response made with `conversation`
reads as its context and adds its input and output to."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from mmstack.api.deps import ApiConversationsDep, authorize
from mmstack.api.routes.openai.conversation_items import new_items
from mmstack.api.routes.openai.pages import PageDep
from mmstack.api.routes.openai.schemas.common import Deleted
from mmstack.api.routes.openai.schemas.conversations import (
    ConversationCreate,
    ConversationItemOut,
    ConversationItemsCreate,
    ConversationOut,
    ConversationUpdate,
)
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import EndpointGroup, Permission

# Starting a conversation is part of using the models, as a response's `store` is (and a
# response made with `conversation` adds to it); changing one otherwise, or taking it away
# (a teammate's too: conversations are the team's), needs WRITE.
router = APIRouter(
    prefix="/v1/conversations",
    tags=["openai: conversations"],
    dependencies=[Depends(authorize(EndpointGroup.RESPONSES, Permission.INFER))],
)
_CHANGING = [Depends(authorize(EndpointGroup.RESPONSES, Permission.WRITE))]


@router.post("")
def create_conversation(
    body: ConversationCreate, conversations: ApiConversationsDep
) -> ConversationOut:
    """A conversation, with up to 20 first items."""
    items = new_items(body.items, where="items")
    return ConversationOut.of(conversations.create(items, body.metadata or {}))


@router.get("/{conversation_id}")
def retrieve_conversation(
    conversation_id: str, conversations: ApiConversationsDep
) -> ConversationOut:
    return ConversationOut.of(conversations.get(conversation_id))


@router.post("/{conversation_id}", dependencies=_CHANGING)
def update_conversation(
    conversation_id: str, body: ConversationUpdate, conversations: ApiConversationsDep
) -> ConversationOut:
    """Replaces the conversation's metadata."""
    return ConversationOut.of(conversations.update(conversation_id, body.metadata or {}))


@router.delete("/{conversation_id}", dependencies=_CHANGING)
def delete_conversation(conversation_id: str, conversations: ApiConversationsDep) -> Deleted:
    """Deletes the conversation with its items (responses kept with `store` stay)."""
    conversations.delete(conversation_id)
    return Deleted(id=conversation_id, object="conversation.deleted")


@router.get("/{conversation_id}/items")
def list_items(
    conversation_id: str, conversations: ApiConversationsDep, page: PageDep
) -> ListOut[ConversationItemOut]:
    found = conversations.items(conversation_id, page)
    data = [ConversationItemOut.model_validate(item) for item in found.items]
    return ListOut(data=data, has_more=found.has_more)


@router.post("/{conversation_id}/items", dependencies=_CHANGING)
def create_items(
    conversation_id: str, body: ConversationItemsCreate, conversations: ApiConversationsDep
) -> ListOut[ConversationItemOut]:
    """Adds up to 20 items at the end of the conversation."""
    added = conversations.add(conversation_id, new_items(body.items, where="items"))
    return ListOut(data=[ConversationItemOut.model_validate(item) for item in added])


@router.get("/{conversation_id}/items/{item_id}")
def retrieve_item(
    conversation_id: str, item_id: str, conversations: ApiConversationsDep
) -> ConversationItemOut:
    return ConversationItemOut.model_validate(conversations.item(conversation_id, item_id))


@router.delete("/{conversation_id}/items/{item_id}", dependencies=_CHANGING)
def delete_item(
    conversation_id: str, item_id: str, conversations: ApiConversationsDep
) -> ConversationOut:
    """Removes one item; the conversation is returned."""
    return ConversationOut.of(conversations.delete_item(conversation_id, item_id))
