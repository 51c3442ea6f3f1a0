"""A person's long-term memories: facts and preferences they told the models about
themselves, kept for them alone (no one else reads them, not their team's admin), under
their control: listed, searched, edited (the edit is a new version; the old one is kept
as its history), deleted with their history, exported, and turned off."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from mmstack.arrays import FloatArray
from mmstack.errors import InvalidRequestError
from mmstack.store.db import Database
from mmstack.store.memories import (
    all_memories,
    current_memories,
    delete_all,
    delete_memories,
    earlier_versions,
    find_memory,
    same_text,
    setting,
)
from mmstack.store.models import Memory, MemorySetting

MemoryKind = Literal["fact", "preference"]
Embed = Callable[[Sequence[str]], FloatArray]
KINDS: Final = ("fact", "preference")
MAX_TEXT: Final = 2_000


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    id: str
    text: str
    kind: str
    source: str
    replaced_by: str | None
    created_at: int
    updated_at: int

    @classmethod
    def of(cls, row: Memory) -> MemoryInfo:
        return cls(
            row.id, row.text, row.kind, row.source, row.replaced_by, row.created_at, row.updated_at
        )


def _checked(text: str, kind: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidRequestError(f"a memory's text is 1 to {MAX_TEXT} characters", param="text")
    if kind not in KINDS:
        raise InvalidRequestError("a memory's kind is 'fact' or 'preference'", param="kind")
    return text


class MemoryService:
    def __init__(self, db: Database, embed: Embed, user_id: str = "") -> None:
        """`embed`: texts to unit vectors (the search's embedding model)."""
        self._db = db
        self._embed = embed
        self._user_id = user_id

    def for_user(self, user_id: str) -> MemoryService:
        return MemoryService(self._db, self._embed, user_id)

    def recall(self, text: str, count: int) -> list[MemoryInfo]:
        """The `count` current memories closest in meaning to `text`, closest first (all
        of them when there are no more)."""
        current = self.current()
        if count <= 0 or not current or not text.strip():
            return []
        if len(current) <= count:
            return current
        vectors = self._embed([text, *(m.text for m in current)])
        closeness = vectors[1:] @ vectors[0]
        ranked = sorted(range(len(current)), key=lambda i: -float(closeness[i]))
        return [current[i] for i in ranked[:count]]

    def enabled(self) -> bool:
        with self._db.session() as session:
            found = setting(session, self._user_id)
            return True if found is None else found.enabled

    def set_enabled(self, enabled: bool) -> None:
        with self._db.session(write=True) as session:
            found = setting(session, self._user_id)
            if found is None:
                session.add(MemorySetting(user_id=self._user_id, enabled=enabled))
            else:
                found.enabled = enabled
                found.updated_at = int(time.time())

    def current(self, *, containing: str | None = None) -> list[MemoryInfo]:
        """The current memories (not replaced), the most recently changed first."""
        with self._db.session() as session:
            rows = current_memories(session, self._user_id, containing=containing)
            return [MemoryInfo.of(row) for row in rows]

    def get(self, memory_id: str) -> tuple[MemoryInfo, list[MemoryInfo]]:
        """The memory and its earlier versions, newest first."""
        with self._db.session() as session:
            row = find_memory(session, memory_id, user_id=self._user_id)
            return MemoryInfo.of(row), [
                MemoryInfo.of(old) for old in earlier_versions(session, row)
            ]

    def add(self, text: str, kind: str = "fact", *, source: str = "manual") -> MemoryInfo:
        """A new memory; one that says the same as a current one is that one."""
        text = _checked(text, kind)
        with self._db.session(write=True) as session:
            existing = same_text(session, self._user_id, text)
            if existing is not None:
                return MemoryInfo.of(existing)
            row = Memory(user_id=self._user_id, text=text, kind=kind, source=source)
            session.add(row)
            session.flush()
            return MemoryInfo.of(row)

    def replace(
        self, memory_id: str, text: str, kind: str | None = None, *, source: str = "manual"
    ) -> MemoryInfo:
        """The memory as it is now: a new version, the old one kept as its history."""
        with self._db.session(write=True) as session:
            old = find_memory(session, memory_id, user_id=self._user_id)
            if old.replaced_by is not None:
                raise InvalidRequestError(
                    f"memory '{memory_id}' was replaced by '{old.replaced_by}': change that one",
                    param="memory_id",
                )
            new_kind = kind or old.kind
            row = Memory(
                user_id=self._user_id,
                text=_checked(text, new_kind),
                kind=new_kind,
                source=source,
            )
            session.add(row)
            session.flush()
            old.replaced_by = row.id
            old.updated_at = int(time.time())
            return MemoryInfo.of(row)

    def delete(self, memory_id: str) -> int:
        """The memory and its history; how many versions went."""
        with self._db.session(write=True) as session:
            row = find_memory(session, memory_id, user_id=self._user_id)
            if row.replaced_by is not None:
                raise InvalidRequestError(
                    f"memory '{memory_id}' is an earlier version of '{row.replaced_by}': "
                    "delete that one (its history goes with it)",
                    param="memory_id",
                )
            ids = [row.id, *(old.id for old in earlier_versions(session, row))]
            return delete_memories(session, ids, self._user_id)

    def delete_everything(self) -> int:
        with self._db.session(write=True) as session:
            return delete_all(session, self._user_id)

    def export(self) -> dict[str, Any]:
        """Every memory, earlier versions included, oldest first, and whether memory is on."""
        enabled = self.enabled()
        with self._db.session() as session:
            rows = all_memories(session, self._user_id)
            return {
                "enabled": enabled,
                "memories": [
                    {
                        "id": row.id,
                        "text": row.text,
                        "kind": row.kind,
                        "source": row.source,
                        "replaced_by": row.replaced_by,
                        "created_at": row.created_at,
                        "updated_at": row.updated_at,
                    }
                    for row in rows
                ],
            }
