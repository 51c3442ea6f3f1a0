from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mmstack.api.deps import ServedModelsDep, SettingsDep, authorize
from mmstack.api.routes.openai.schemas.models import PUBLIC_KINDS, ModelList, ModelOut, PublicKind
from mmstack.auth.roles import EndpointGroup, Permission

router = APIRouter(
    prefix="/v1",
    tags=["openai: models"],
    dependencies=[Depends(authorize(EndpointGroup.MODELS, Permission.READ))],
)


# Chat models first: a client that picks the first model it is given picks one it can chat with.
_ORDER = {"chat": 0, "embedding": 1, "speech-to-text": 2}


@router.get("/models")
def list_models(
    models: ServedModelsDep,
    settings: SettingsDep,
    kind: Annotated[
        PublicKind | None, Query(description="Only models of this kind (an mmstack extension)")
    ] = None,
) -> ModelList:
    """The models this server serves: the chat models first (the default one first of
    all), then the embedding and transcription models; `llm.list_chat_models_only` lists
    the chat models alone, for clients that offer every model listed as a chat model."""
    wanted = kind or ("chat" if settings.llm.list_chat_models_only else None)
    default = settings.llm.default_model
    listed = sorted(models.list(), key=lambda m: (_ORDER[m.kind], m.id != default, m.id))
    return ModelList(
        data=[ModelOut.of(m) for m in listed if wanted is None or PUBLIC_KINDS[m.kind] == wanted]
    )


@router.get("/models/{model_id:path}")
def retrieve_model(model_id: str, models: ServedModelsDep) -> ModelOut:
    return ModelOut.of(models.get(model_id))
