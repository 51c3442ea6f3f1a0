from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from mmstack.api.routes.openai.schemas.common import (
    ChunkingStrategyIn,
    ExpiresAfterIn,
    Metadata,
)
from mmstack.api.schemas import LABEL, STRICT, Identified
from mmstack.knowledge.collections import CollectionInfo
from mmstack.store.file_states import FileCounts

StoreName = Annotated[str, Field(max_length=256, json_schema_extra=LABEL)]


class VectorStoreCreate(BaseModel):
    model_config = STRICT

    name: StoreName | None = None
    description: str | None = Field(None, max_length=4096)
    metadata: Metadata | None = None
    file_ids: list[str] = Field(default_factory=list, max_length=2000)
    expires_after: ExpiresAfterIn | None = None
    chunking_strategy: ChunkingStrategyIn | None = None


class VectorStoreUpdate(BaseModel):
    model_config = STRICT

    name: StoreName | None = None
    metadata: Metadata | None = None
    expires_after: ExpiresAfterIn | None = None


class StoreFileCountsOut(BaseModel):
    """OpenAI's file counts: `in_progress` includes the files waiting for a worker."""

    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int

    @classmethod
    def of(cls, counts: FileCounts) -> StoreFileCountsOut:
        return cls(
            in_progress=counts.waiting_or_running,
            completed=counts.completed,
            failed=counts.failed,
            cancelled=counts.cancelled,
            total=counts.total,
        )


class VectorStoreOut(Identified):
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str
    description: str | None
    metadata: dict[str, Any]
    file_counts: StoreFileCountsOut
    usage_bytes: int
    status: Literal["expired", "in_progress", "completed"]
    last_active_at: int | None = None
    expires_after: ExpiresAfterIn | None = None
    expires_at: int | None = None

    @classmethod
    def of(cls, info: CollectionInfo) -> VectorStoreOut:
        c = info.collection
        return cls(
            id=c.id,
            created_at=c.created_at,
            name=c.name,
            description=c.description,
            metadata=dict(c.metadata_),
            file_counts=StoreFileCountsOut.of(info.file_counts),
            usage_bytes=info.usage_bytes,
            status=info.status,
        )
