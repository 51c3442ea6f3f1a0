from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from mmstack.api.routes.openai.schemas.common import Attributes, ChunkingStrategyIn
from mmstack.api.routes.openai.schemas.vector_stores import StoreFileCountsOut
from mmstack.api.schemas import STRICT, Identified
from mmstack.config.settings import ChunkingSettings
from mmstack.knowledge.batches import MAX_BATCH_FILES, BatchInfo
from mmstack.knowledge.members import FileToAttach
from mmstack.store.file_states import error_code_of, state_of
from mmstack.store.models import CollectionFile


class StoreFileCreate(BaseModel):
    model_config = STRICT

    file_id: str
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategyIn | None = None


class StoreFileUpdate(BaseModel):
    model_config = STRICT

    attributes: Attributes | None


class BatchFileIn(BaseModel):
    model_config = STRICT

    file_id: str
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategyIn | None = None


class FileBatchCreate(BaseModel):
    # Either list, not both: said in the schema too, so clients and fuzzers know.
    model_config = ConfigDict(
        strict=True,
        json_schema_extra={"oneOf": [{"required": ["file_ids"]}, {"required": ["files"]}]},
    )

    # Left out, not null, when not given (the schema says so: `oneOf` counts a null).
    file_ids: list[str] | SkipJsonSchema[None] = Field(
        None, min_length=1, max_length=MAX_BATCH_FILES
    )
    files: list[BatchFileIn] | SkipJsonSchema[None] = Field(
        None, min_length=1, max_length=MAX_BATCH_FILES
    )
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategyIn | None = None

    @field_validator("file_ids", "files", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("give a list, or leave it out")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> FileBatchCreate:
        if (self.file_ids is None) == (self.files is None):
            raise ValueError("give either file_ids or files")
        return self

    def to_attach(self) -> list[FileToAttach]:
        """Per-file attributes from `files`, or the batch's `attributes` for each id."""
        if self.files is not None:
            return [FileToAttach(f.file_id, f.attributes) for f in self.files]
        return [FileToAttach(file_id, self.attributes) for file_id in self.file_ids or ()]


class LastErrorOut(BaseModel):
    code: Literal["server_error", "unsupported_file", "invalid_file"]
    message: str


class StaticChunking(BaseModel):
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


class ChunkingStrategyOut(BaseModel):
    type: Literal["static"] = "static"
    static: StaticChunking

    @classmethod
    def of(cls, chunking: ChunkingSettings) -> ChunkingStrategyOut:
        return cls(
            static=StaticChunking(
                max_chunk_size_tokens=chunking.max_tokens,
                chunk_overlap_tokens=chunking.overlap_tokens,
            )
        )


class StoreFileOut(Identified):
    object: Literal["vector_store.file"] = "vector_store.file"
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    last_error: LastErrorOut | None
    usage_bytes: int
    attributes: dict[str, Any]
    chunking_strategy: ChunkingStrategyOut

    @classmethod
    def of(cls, member: CollectionFile, chunking: ChunkingSettings) -> StoreFileOut:
        state = state_of(member)
        error = None
        if state == "failed":
            message = member.last_error or "ingestion failed"
            error = LastErrorOut(code=error_code_of(member), message=message)
        return cls(
            id=member.file_id,
            created_at=member.created_at,
            vector_store_id=member.collection_id,
            status=state,
            last_error=error,
            usage_bytes=member.file.size_bytes,
            attributes=dict(member.attributes),
            chunking_strategy=ChunkingStrategyOut.of(chunking),
        )


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


class FileContentPage(BaseModel):
    object: Literal["vector_store.file_content.page"] = "vector_store.file_content.page"
    data: list[TextPart]
    has_more: bool = False
    next_page: str | None = None


class FileBatchOut(Identified):
    object: Literal["vector_store.files_batch"] = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    file_counts: StoreFileCountsOut

    @classmethod
    def of(cls, info: BatchInfo) -> FileBatchOut:
        return cls(
            id=info.batch.id,
            created_at=info.batch.created_at,
            vector_store_id=info.batch.collection_id,
            status=info.status,
            file_counts=StoreFileCountsOut.of(info.file_counts),
        )
