"""Queries about a person's memories: theirs only, the current ones (not replaced) or
all, one's earlier versions, and deleting a memory with its history."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.store.models import Memory, MemorySetting


def find_memory(session: Session, memory_id: str, *, user_id: str) -> Memory:
    found = session.scalar(select(Memory).where(Memory.id == memory_id, Memory.user_id == user_id))
    if found is None:
        raise NotFoundError(f"memory '{memory_id}' not found", param="memory_id")
    return found


def current_memories(
    session: Session, user_id: str, *, containing: str | None = None
) -> list[Memory]:
    """The memories not replaced, the most recently changed first; `containing`: whose
    text holds it (any case)."""
    query = select(Memory).where(Memory.user_id == user_id, Memory.replaced_by.is_(None))
    if containing:
        escaped = containing.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Memory.text).like(f"%{escaped}%", escape="\\"))
    return list(session.scalars(query.order_by(Memory.updated_at.desc(), Memory.seq.desc())))


def all_memories(session: Session, user_id: str) -> list[Memory]:
    query = select(Memory).where(Memory.user_id == user_id)
    return list(session.scalars(query.order_by(Memory.seq)))


def earlier_versions(session: Session, memory: Memory) -> list[Memory]:
    """What `memory` replaced, newest first."""
    found: list[Memory] = []
    current = memory.id
    while True:
        older = session.scalar(
            select(Memory).where(Memory.replaced_by == current, Memory.user_id == memory.user_id)
        )
        if older is None:
            return found
        found.append(older)
        current = older.id


def delete_memories(session: Session, ids: list[str], user_id: str) -> int:
    result = session.execute(delete(Memory).where(Memory.id.in_(ids), Memory.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_all(session: Session, user_id: str) -> int:
    result = session.execute(delete(Memory).where(Memory.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def same_text(session: Session, user_id: str, text: str) -> Memory | None:
    """A current memory that says exactly `text` (up to case and surrounding space)."""
    query = select(Memory).where(
        Memory.user_id == user_id,
        Memory.replaced_by.is_(None),
        func.lower(func.trim(Memory.text)) == text.strip().lower(),
    )
    return session.scalars(query).first()


def setting(session: Session, user_id: str) -> MemorySetting | None:
    return session.get(MemorySetting, user_id)
