from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mmstack.index.model_directory import ServedModel
from mmstack.knowledge.knowledge_models import KnowledgeModel

# What a client sees of a model's kind: OpenAI's own words for the endpoints.
PublicKind = Literal["chat", "embedding", "transcription"]
PUBLIC_KINDS: dict[str, PublicKind] = {
    "chat": "chat",
    "embedding": "embedding",
    "speech-to-text": "transcription",
}


class KnowledgeOut(BaseModel):
    collection_ids: list[str] = Field(description="The collections it answers from")
    model: str = Field(description="The chat model that answers")
    description: str | None = None


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    kind: PublicKind = Field(
        description="What the model serves (an mmstack extension): chat completions and "
        "responses, embeddings, or audio transcriptions"
    )
    name: str = Field(description="What a client shows (an mmstack extension)")
    knowledge: KnowledgeOut | None = Field(
        None,
        description="Set on a knowledge model (an mmstack extension): it answers from "
        "documents, with citations",
    )

    @classmethod
    def of(cls, model: ServedModel) -> ModelOut:
        return cls(
            id=model.id,
            created=model.created,
            owned_by=model.owned_by,
            kind=PUBLIC_KINDS[model.kind],
            name=model.id,
        )

    @classmethod
    def of_knowledge(cls, model: KnowledgeModel) -> ModelOut:
        return cls(
            id=model.id,
            created=model.created,
            owned_by="mmstack",
            kind="chat",
            name=model.name,
            knowledge=KnowledgeOut(
                collection_ids=list(model.collection_ids),
                model=model.model,
                description=model.description,
            ),
        )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]
