from __future__ import annotations

from fastapi import APIRouter

from mmstack.api.deps import EmbeddingsDep
from mmstack.api.routes.openai.schemas.embeddings import EmbeddingRequest, EmbeddingResponse

router = APIRouter(prefix="/v1", tags=["openai: embeddings"])


@router.post("/embeddings")
def create_embeddings(body: EmbeddingRequest, embeddings: EmbeddingsDep) -> EmbeddingResponse:
    """Embed texts or token arrays (ids in the embedding model's own vocabulary)."""
    result = embeddings.embed(body.model, body.inputs(), dimensions=body.dimensions)
    return EmbeddingResponse.of(result, body.encoding_format)
