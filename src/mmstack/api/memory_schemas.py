"""The native API's shapes for a person's memories."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mmstack.api.schemas import STRICT, Identified
from mmstack.llm.memories import MAX_TEXT, MemoryInfo


class MemoryIn(BaseModel):
    model_config = STRICT

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    kind: Literal["fact", "preference"] = "fact"


class MemoryChange(BaseModel):
    model_config = STRICT

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    kind: Literal["fact", "preference"] | None = None


class MemorySettingsIO(BaseModel):
    model_config = STRICT

    enabled: bool


class MemoryOut(Identified):
    object: Literal["memory"] = "memory"
    text: str
    kind: str
    source: str
    replaced_by: str | None
    created_at: int
    updated_at: int
    history: list[MemoryOut] | None = Field(
        None, description="Its earlier versions, newest first (when one memory is asked for)"
    )

    @classmethod
    def of(cls, info: MemoryInfo, history: list[MemoryInfo] | None = None) -> MemoryOut:
        return cls(
            id=info.id,
            text=info.text,
            kind=info.kind,
            source=info.source,
            replaced_by=info.replaced_by,
            created_at=info.created_at,
            updated_at=info.updated_at,
            history=None if history is None else [cls.of(old) for old in history],
        )


class MemoriesDeleted(BaseModel):
    deleted: int
