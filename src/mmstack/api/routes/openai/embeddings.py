from __future__ import annotations

from fastapi import APIRouter, Depends

from mmstack.api.deps import EmbeddingsDep, MeterDep, authorize
from mmstack.api.routes.openai.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from mmstack.auth.roles import EndpointGroup, Permission

router = APIRouter(
    prefix="/v1",
    tags=["openai: embeddings"],
    dependencies=[Depends(authorize(EndpointGroup.EMBEDDINGS, Permission.INFER))],
)


@router.post("/embeddings")
def create_embeddings(
    body: EmbeddingRequest, embeddings: EmbeddingsDep, meter: MeterDep
) -> EmbeddingResponse:
    """Embed texts or token arrays (ids in the embedding model's own vocabulary)."""
    meter.check_tokens()
    result = embeddings.embed(body.model, body.inputs(), dimensions=body.dimensions)
    meter.record_tokens(body.model, result.prompt_tokens, 0)
    return EmbeddingResponse.of(result, body.encoding_format)
