"""Queries about the console's conversations: the ones a user may see (their own, and the
ones their team shares), and their messages in order."""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.store.models import Conversation, ConversationMessage, now


def find_visible(
    session: Session, conversation_id: str, *, user_id: str, team_id: str
) -> Conversation:
    """The conversation if it is the user's own or shared with their team; NotFoundError
    otherwise (another team's conversation is not there at all)."""
    found = session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.team_id == team_id,
            or_(Conversation.user_id == user_id, Conversation.shared.is_(True)),
        )
    )
    if found is None:
        raise NotFoundError(f"conversation '{conversation_id}' not found", param="conversation")
    return found


def own_conversations(session: Session, *, user_id: str, team_id: str) -> list[Conversation]:
    """The user's conversations, the most recently active first."""
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.user_id == user_id, Conversation.team_id == team_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id)
        )
    )


def shared_with(session: Session, *, user_id: str, team_id: str) -> list[Conversation]:
    """The conversations others of the team share, the most recently active first."""
    return list(
        session.scalars(
            select(Conversation)
            .where(
                Conversation.team_id == team_id,
                Conversation.shared.is_(True),
                Conversation.user_id != user_id,
            )
            .order_by(Conversation.updated_at.desc(), Conversation.id)
        )
    )


def messages_of(session: Session, conversation_id: str) -> list[ConversationMessage]:
    return list(
        session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation_id)
            .order_by(ConversationMessage.id)
        )
    )


def touch(session: Session, conversation_id: str) -> None:
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(updated_at=now())
    )


def delete_conversation(session: Session, conversation_id: str) -> None:
    session.execute(
        delete(ConversationMessage).where(ConversationMessage.conversation_id == conversation_id)
    )
    session.execute(delete(Conversation).where(Conversation.id == conversation_id))
