from __future__ import annotations

from fastapi import APIRouter, Depends

from mmstack.api.deps import ServedModelsDep, authorize
from mmstack.api.routes.openai.schemas.models import ModelList, ModelOut
from mmstack.auth.roles import EndpointGroup, Permission

router = APIRouter(
    prefix="/v1",
    tags=["openai: models"],
    dependencies=[Depends(authorize(EndpointGroup.MODELS, Permission.READ))],
)


@router.get("/models")
def list_models(models: ServedModelsDep) -> ModelList:
    """The models this server serves."""
    return ModelList(data=[ModelOut.of(m) for m in models.list()])


@router.get("/models/{model_id:path}")
def retrieve_model(model_id: str, models: ServedModelsDep) -> ModelOut:
    return ModelOut.of(models.get(model_id))
