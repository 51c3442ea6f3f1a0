from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mmstack.index.model_directory import ServedModel

# What a client sees of a model's kind: OpenAI's own words for the endpoints.
PublicKind = Literal["chat", "embedding", "transcription"]
PUBLIC_KINDS: dict[str, PublicKind] = {
    "chat": "chat",
    "embedding": "embedding",
    "speech-to-text": "transcription",
}


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    kind: PublicKind = Field(
        description="What the model serves (an mmstack extension): chat completions and "
        "responses, embeddings, or audio transcriptions"
    )

    @classmethod
    def of(cls, model: ServedModel) -> ModelOut:
        return cls(
            id=model.id,
            created=model.created,
            owned_by=model.owned_by,
            kind=PUBLIC_KINDS[model.kind],
        )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]
