"""Conversations kept for the people who have them: each belongs to the user who started
it, who may share it with their team to read. Only its owner adds to it, renames,
shares or deletes it; to anyone outside the team it does not exist."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from sqlalchemy.orm import Session

from mmstack.errors import InvalidRequestError, PermissionDeniedError
from mmstack.store import conversations as rows
from mmstack.store.db import Database
from mmstack.store.models import Conversation, ConversationMessage

# A conversation's title made from its first question is cut to this many characters.
TITLE_LENGTH = 80


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    conversation: Conversation
    messages: list[ConversationMessage]


def title_from(question: str) -> str:
    words = " ".join(question.split())
    if len(words) <= TITLE_LENGTH:
        return words
    return words[: TITLE_LENGTH - 1].rsplit(" ", 1)[0] + "…"


class ConversationService:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._user_id = ""
        self._team_id = ""

    def for_user(self, user_id: str, team_id: str) -> Self:
        bound = copy.copy(self)
        bound._user_id = user_id
        bound._team_id = team_id
        return bound

    def create(self, *, title: str = "", collection_ids: Sequence[str] = ()) -> Conversation:
        """A new conversation over `collection_ids` (already checked to be the user's)."""
        self._require_user()
        with self._db.session(write=True) as session:
            conversation = Conversation(
                team_id=self._team_id,
                user_id=self._user_id,
                title=title.strip(),
                collection_ids=list(collection_ids),
            )
            session.add(conversation)
        return conversation

    def own(self) -> list[Conversation]:
        self._require_user()
        with self._db.session() as session:
            return rows.own_conversations(session, user_id=self._user_id, team_id=self._team_id)

    def shared_with_me(self) -> list[Conversation]:
        self._require_user()
        with self._db.session() as session:
            return rows.shared_with(session, user_id=self._user_id, team_id=self._team_id)

    def get(self, conversation_id: str) -> ConversationDetail:
        """The conversation with its messages: the user's own, or one their team shares."""
        with self._db.session() as session:
            conversation = self._visible(session, conversation_id)
            return ConversationDetail(conversation, rows.messages_of(session, conversation.id))

    def update(
        self,
        conversation_id: str,
        *,
        title: str | None = None,
        shared: bool | None = None,
        collection_ids: Sequence[str] | None = None,
    ) -> Conversation:
        """Rename, share or unshare, or change the collections; a None argument leaves
        it as it is."""
        with self._db.session(write=True) as session:
            conversation = self._owned(session, conversation_id)
            if title is not None:
                conversation.title = title.strip()
            if shared is not None:
                conversation.shared = shared
            if collection_ids is not None:
                conversation.collection_ids = list(collection_ids)
            rows.touch(session, conversation.id)
        return self.get(conversation_id).conversation

    def delete(self, conversation_id: str) -> None:
        with self._db.session(write=True) as session:
            rows.delete_conversation(session, self._owned(session, conversation_id).id)

    def history(self, conversation_id: str) -> tuple[Conversation, list[ConversationMessage]]:
        """What a new question is asked after: the conversation (the owner's) and its
        messages so far."""
        with self._db.session() as session:
            conversation = self._owned(session, conversation_id)
            return conversation, rows.messages_of(session, conversation.id)

    def add_turn(
        self,
        conversation_id: str,
        question: str,
        answer: str,
        annotations: list[dict[str, Any]],
    ) -> list[ConversationMessage]:
        """Keep a question and its answer, in one transaction; the first question names an
        untitled conversation."""
        if not question.strip():
            raise InvalidRequestError("the question is empty", param="content")
        with self._db.session(write=True) as session:
            conversation = self._owned(session, conversation_id)
            if not conversation.title:
                conversation.title = title_from(question)
            added = [
                self._message(conversation.id, "user", question, []),
                self._message(conversation.id, "assistant", answer, annotations),
            ]
            session.add_all(added)
            rows.touch(session, conversation.id)
        return added

    @staticmethod
    def _message(
        conversation_id: str,
        role: Literal["user", "assistant"],
        content: str,
        annotations: list[dict[str, Any]],
    ) -> ConversationMessage:
        return ConversationMessage(
            conversation_id=conversation_id, role=role, content=content, annotations=annotations
        )

    def _require_user(self) -> None:
        if not self._user_id:
            raise PermissionDeniedError("conversations belong to a user: log in to keep them")

    def _visible(self, session: Session, conversation_id: str) -> Conversation:
        self._require_user()
        return rows.find_visible(
            session, conversation_id, user_id=self._user_id, team_id=self._team_id
        )

    def _owned(self, session: Session, conversation_id: str) -> Conversation:
        conversation = self._visible(session, conversation_id)
        if conversation.user_id != self._user_id:
            raise PermissionDeniedError(
                "this conversation is shared with you to read; only the person who started "
                "it can change it",
                param="conversation",
            )
        return conversation
