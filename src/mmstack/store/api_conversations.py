"""Queries about the Conversations API's conversations: finding one within its team, and
its items in order."""

from __future__ import annotations

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.store.models import ApiConversation, ApiConversationItem
from mmstack.store.ownership import Owner
from mmstack.store.pagination import Page, PageRequest, paginate_by_id


def find_conversation(
    session: Session, conversation_id: str, *, owner: Owner | None, param: str = "conversation_id"
) -> ApiConversation:
    """The conversation if `owner`'s team holds it; NotFoundError otherwise (another
    team's is not there at all)."""
    query = select(ApiConversation).where(ApiConversation.id == conversation_id)
    if owner is not None:
        query = query.where(ApiConversation.team_id == owner.team_id)
    found = session.scalar(query)
    if found is None:
        raise NotFoundError(f"conversation '{conversation_id}' not found", param=param)
    return found


def _items_of(conversation_id: str) -> Select[ApiConversationItem]:
    return select(ApiConversationItem).where(ApiConversationItem.conversation_id == conversation_id)


def items_page(
    session: Session, conversation_id: str, page: PageRequest
) -> Page[ApiConversationItem]:
    key = (ApiConversationItem.created_at, ApiConversationItem.seq)
    return paginate_by_id(session, _items_of(conversation_id), key, ApiConversationItem.id, page)


def last_items(session: Session, conversation_id: str, limit: int) -> list[ApiConversationItem]:
    """The conversation's last `limit` items, oldest first."""
    newest = session.scalars(
        _items_of(conversation_id).order_by(ApiConversationItem.seq.desc()).limit(limit)
    )
    return list(reversed(list(newest)))


def find_item(session: Session, conversation_id: str, item_id: str) -> ApiConversationItem:
    found = session.scalar(_items_of(conversation_id).where(ApiConversationItem.id == item_id))
    if found is None:
        raise NotFoundError(
            f"item '{item_id}' not found in conversation '{conversation_id}'", param="item_id"
        )
    return found


def delete_conversation(session: Session, conversation_id: str) -> None:
    """The conversation, and its items with it (ON DELETE CASCADE)."""
    session.execute(delete(ApiConversation).where(ApiConversation.id == conversation_id))
