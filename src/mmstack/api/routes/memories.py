"""One's own long-term memories: list and search them, add, change (a new version; the old
one kept as history), delete one (with its history) or all, export, and turn memory off.
Every route acts on the caller's memories alone: there is no way to name another's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from mmstack.api.deps import MemoriesDep, authorize
from mmstack.api.memory_schemas import (
    MemoriesDeleted,
    MemoryChange,
    MemoryIn,
    MemoryOut,
    MemorySettingsIO,
)
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import EndpointGroup, Permission

# One's own memories are part of using the models: every role keeps its own.
_GUARD = [Depends(authorize(EndpointGroup.MEMORIES, Permission.INFER))]
# `/api/memories`: the memories; `/api/memory`: one's memory as a whole (on or off, export).
router = APIRouter(prefix="/api/memories", tags=["memories"], dependencies=_GUARD)
whole = APIRouter(prefix="/api/memory", tags=["memories"], dependencies=_GUARD)


@whole.get("")
def memory_settings(memories: MemoriesDep) -> MemorySettingsIO:
    """Whether memory is on (it is unless the person turned it off)."""
    return MemorySettingsIO(enabled=memories.enabled())


@whole.put("")
def change_memory_settings(body: MemorySettingsIO, memories: MemoriesDep) -> MemorySettingsIO:
    """Off: nothing new is remembered and nothing is recalled; what is kept stays (delete
    it to have it gone)."""
    memories.set_enabled(body.enabled)
    return MemorySettingsIO(enabled=memories.enabled())


@whole.get("/export")
def export_memories(memories: MemoriesDep) -> dict[str, Any]:
    """Everything kept: each memory and earlier version, oldest first, and the setting."""
    return memories.export()


@router.get("")
def list_memories(
    memories: MemoriesDep,
    q: Annotated[
        str | None, Query(max_length=256, description="Only those whose text holds it")
    ] = None,
) -> ListOut[MemoryOut]:
    """The current memories (not replaced), the most recently changed first."""
    return ListOut(data=[MemoryOut.of(m) for m in memories.current(containing=q)])


@router.post("", status_code=201)
def add_memory(body: MemoryIn, memories: MemoriesDep) -> MemoryOut:
    """One that says the same as a current memory is that memory."""
    return MemoryOut.of(memories.add(body.text, body.kind))


@router.delete("")
def delete_all_memories(memories: MemoriesDep) -> MemoriesDeleted:
    """Every memory, with every earlier version."""
    return MemoriesDeleted(deleted=memories.delete_everything())


@router.get("/{memory_id}")
def get_memory(memory_id: str, memories: MemoriesDep) -> MemoryOut:
    """With its earlier versions (`history`)."""
    memory, history = memories.get(memory_id)
    return MemoryOut.of(memory, history)


@router.put("/{memory_id}")
def change_memory(memory_id: str, body: MemoryChange, memories: MemoriesDep) -> MemoryOut:
    """The memory as it is now: a new version, with the old one as its history."""
    memory = memories.replace(memory_id, body.text, body.kind)
    return MemoryOut.of(memory, memories.get(memory.id)[1])


@router.delete("/{memory_id}", status_code=204)
def delete_memory(memory_id: str, memories: MemoriesDep) -> Response:
    """The memory and its earlier versions."""
    memories.delete(memory_id)
    return Response(status_code=204)
