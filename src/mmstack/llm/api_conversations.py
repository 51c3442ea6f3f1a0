"""Conversations of the OpenAI Conversations API: created with items and metadata, added
to by the client and by each response made `conversation=...`, and read back as the
context of the next response. Items are kept as the API returns them; their meaning (as
chat messages) is the API layer's. A team's conversations are its own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.orm import Session

from mmstack.store.api_conversations import (
    delete_conversation,
    find_conversation,
    find_item,
    items_page,
    last_items,
)
from mmstack.store.db import Database
from mmstack.store.models import DEFAULT_TEAM_ID, ApiConversation, ApiConversationItem
from mmstack.store.ownership import OwnerScoped
from mmstack.store.pagination import Page, PageRequest

# The most recent items a response reads as its context.
CONTEXT_ITEMS: Final = 1_000


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    id: str
    created_at: int
    metadata: dict[str, str]

    @classmethod
    def of(cls, row: ApiConversation) -> ConversationInfo:
        return cls(row.id, row.created_at, dict(row.pairs))


class ApiConversations(OwnerScoped):
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, items: list[dict[str, Any]], metadata: dict[str, str]) -> ConversationInfo:
        """A new conversation holding `items` (each with its `id`)."""
        team_id = self._owner.team_id if self._owner else DEFAULT_TEAM_ID
        with self._db.session(write=True) as session:
            row = ApiConversation(team_id=team_id, pairs=metadata)
            session.add(row)
            session.flush()
            self._append(session, row, items)
            return ConversationInfo.of(row)

    def get(self, conversation_id: str) -> ConversationInfo:
        with self._db.session() as session:
            return ConversationInfo.of(
                find_conversation(session, conversation_id, owner=self._owner)
            )

    def update(self, conversation_id: str, metadata: dict[str, str]) -> ConversationInfo:
        with self._db.session(write=True) as session:
            row = find_conversation(session, conversation_id, owner=self._owner)
            row.pairs = metadata
            row.updated_at = int(time.time())
            return ConversationInfo.of(row)

    def delete(self, conversation_id: str) -> None:
        """The conversation and its items."""
        with self._db.session(write=True) as session:
            find_conversation(session, conversation_id, owner=self._owner)
            delete_conversation(session, conversation_id)

    def add(
        self, conversation_id: str, items: list[dict[str, Any]], *, param: str = "conversation_id"
    ) -> list[dict[str, Any]]:
        """Append `items` (each with its `id`), in order; they are returned."""
        with self._db.session(write=True) as session:
            row = find_conversation(session, conversation_id, owner=self._owner, param=param)
            self._append(session, row, items)
        return items

    def items(self, conversation_id: str, page: PageRequest) -> Page[dict[str, Any]]:
        with self._db.session() as session:
            find_conversation(session, conversation_id, owner=self._owner)
            found = items_page(session, conversation_id, page)
            return Page([dict(item.body) for item in found.items], found.has_more)

    def item(self, conversation_id: str, item_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            find_conversation(session, conversation_id, owner=self._owner)
            return dict(find_item(session, conversation_id, item_id).body)

    def delete_item(self, conversation_id: str, item_id: str) -> ConversationInfo:
        """Remove one item; the conversation is returned."""
        with self._db.session(write=True) as session:
            row = find_conversation(session, conversation_id, owner=self._owner)
            session.delete(find_item(session, conversation_id, item_id))
            row.updated_at = int(time.time())
            return ConversationInfo.of(row)

    def context(self, conversation_id: str) -> list[dict[str, Any]]:
        """The items the next response reads (the last CONTEXT_ITEMS), oldest first."""
        with self._db.session() as session:
            find_conversation(session, conversation_id, owner=self._owner, param="conversation")
            return [dict(item.body) for item in last_items(session, conversation_id, CONTEXT_ITEMS)]

    def _append(self, session: Session, row: ApiConversation, items: list[dict[str, Any]]) -> None:
        moment = int(time.time())
        for item in items:
            session.add(
                ApiConversationItem(
                    id=item["id"], conversation_id=row.id, body=item, created_at=moment
                )
            )
        row.updated_at = moment
