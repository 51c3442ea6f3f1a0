from __future__ import annotations

from fastapi import APIRouter, Depends

from mmstack.api.deps import VectorStoresDep, authorize
from mmstack.api.routes.openai.pages import PageDep
from mmstack.api.routes.openai.schemas.common import Deleted
from mmstack.api.routes.openai.schemas.vector_stores import (
    VectorStoreCreate,
    VectorStoreOut,
    VectorStoreUpdate,
)
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import EndpointGroup
from mmstack.knowledge.members import FileToAttach

router = APIRouter(
    prefix="/v1/vector_stores",
    tags=["openai: vector stores"],
    dependencies=[Depends(authorize(EndpointGroup.VECTOR_STORES))],
)


@router.post("")
def create_vector_store(body: VectorStoreCreate, stores: VectorStoresDep) -> VectorStoreOut:
    """A vector store is an mmstack collection; as in OpenAI, several may share a name
    (the native API then addresses them by id). `expires_after` and `chunking_strategy`
    are accepted and not applied."""
    info = stores.create(
        name=body.name,
        description=body.description,
        metadata=body.metadata,
        files=[FileToAttach(file_id) for file_id in body.file_ids],
        unique_name=False,
    )
    return VectorStoreOut.of(info)


@router.get("")
def list_vector_stores(stores: VectorStoresDep, page: PageDep) -> ListOut[VectorStoreOut]:
    found = stores.list_page(page)
    return ListOut(data=[VectorStoreOut.of(i) for i in found.items], has_more=found.has_more)


@router.get("/{vector_store_id}")
def retrieve_vector_store(vector_store_id: str, stores: VectorStoresDep) -> VectorStoreOut:
    return VectorStoreOut.of(stores.get(vector_store_id))


@router.post("/{vector_store_id}")
def modify_vector_store(
    vector_store_id: str, body: VectorStoreUpdate, stores: VectorStoresDep
) -> VectorStoreOut:
    info = stores.update(vector_store_id, name=body.name, metadata=body.metadata, unique_name=False)
    return VectorStoreOut.of(info)


@router.delete("/{vector_store_id}")
def delete_vector_store(vector_store_id: str, stores: VectorStoresDep) -> Deleted:
    """Deletes the store's chunks and vectors; files uploaded through /v1/files stay."""
    return Deleted(id=stores.delete(vector_store_id), object="vector_store.deleted")
