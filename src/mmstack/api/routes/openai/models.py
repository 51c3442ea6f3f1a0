from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mmstack.api.deps import KnowledgeModelsDep, ServedModelsDep, SettingsDep, authorize
from mmstack.api.routes.openai.schemas.models import ModelList, ModelOut, PublicKind
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
    knowledge: KnowledgeModelsDep,
    settings: SettingsDep,
    kind: Annotated[
        PublicKind | None, Query(description="Only models of this kind (an mmstack extension)")
    ] = None,
) -> ModelList:
    """The models this server serves: the chat models first (the default one first of
    all), then the knowledge models the caller may use (grounded answers from documents),
    then the embedding and transcription models; `llm.list_chat_models_only` lists the
    chat models alone, for clients that offer every model listed as a chat model."""
    wanted = kind or ("chat" if settings.llm.list_chat_models_only else None)
    default = settings.llm.default_model
    listed = sorted(models.list(), key=lambda m: (_ORDER[m.kind], m.id != default, m.id))
    out = [ModelOut.of(m) for m in listed]
    chat_models = sum(1 for m in listed if m.kind == "chat")
    out[chat_models:chat_models] = [ModelOut.of_knowledge(m) for m in knowledge.list()]
    return ModelList(data=[m for m in out if wanted is None or m.kind == wanted])


@router.get("/models/{model_id:path}")
def retrieve_model(
    model_id: str, models: ServedModelsDep, knowledge: KnowledgeModelsDep
) -> ModelOut:
    known = knowledge.find(model_id)
    if known is not None:
        return ModelOut.of_knowledge(known)
    return ModelOut.of(models.get(model_id))
