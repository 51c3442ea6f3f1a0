from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from mmstack.api.deps import ChunkingDep, VectorStoresDep, authorize
from mmstack.api.routes.openai.pages import POLL_AFTER_MS, POLL_HEADER, PageDep
from mmstack.api.routes.openai.schemas.common import Deleted
from mmstack.api.routes.openai.schemas.vector_store_files import (
    FileContentPage,
    StoreFileCreate,
    StoreFileOut,
    StoreFileUpdate,
    TextPart,
)
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import EndpointGroup
from mmstack.store.file_states import FileState

router = APIRouter(
    prefix="/v1/vector_stores/{vector_store_id}/files",
    tags=["openai: vector stores"],
    dependencies=[Depends(authorize(EndpointGroup.VECTOR_STORES))],
)


@router.post("")
def attach_file(
    vector_store_id: str, body: StoreFileCreate, stores: VectorStoresDep, chunking: ChunkingDep
) -> StoreFileOut:
    """Attach a file (by its id) and queue its ingestion; the vector store file's id is
    the file's. A file already attached is returned (with `attributes` replaced if given)."""
    member = stores.attach(vector_store_id, body.file_id, attributes=body.attributes)
    return StoreFileOut.of(member, chunking)


@router.get("")
def list_store_files(
    vector_store_id: str,
    stores: VectorStoresDep,
    chunking: ChunkingDep,
    page: PageDep,
    state: Annotated[FileState | None, Query(alias="filter")] = None,
) -> ListOut[StoreFileOut]:
    found = stores.file_page(vector_store_id, page, state=state)
    return ListOut(
        data=[StoreFileOut.of(m, chunking) for m in found.items], has_more=found.has_more
    )


@router.get("/{file_id}")
def retrieve_store_file(
    vector_store_id: str,
    file_id: str,
    stores: VectorStoresDep,
    chunking: ChunkingDep,
    response: Response,
) -> StoreFileOut:
    response.headers[POLL_HEADER] = POLL_AFTER_MS
    return StoreFileOut.of(stores.file(vector_store_id, file_id), chunking)


@router.post("/{file_id}")
def update_store_file(
    vector_store_id: str,
    file_id: str,
    body: StoreFileUpdate,
    stores: VectorStoresDep,
    chunking: ChunkingDep,
) -> StoreFileOut:
    member = stores.update_file(vector_store_id, file_id, body.attributes or {})
    return StoreFileOut.of(member, chunking)


@router.delete("/{file_id}")
def detach_file(vector_store_id: str, file_id: str, stores: VectorStoresDep) -> Deleted:
    """Remove the file from this vector store. A file uploaded through /v1/files stays;
    one uploaded straight into the collection goes when no collection uses it."""
    stores.delete_file(vector_store_id, file_id)
    return Deleted(id=file_id, object="vector_store.file.deleted")


@router.get("/{file_id}/content")
def store_file_content(
    vector_store_id: str, file_id: str, stores: VectorStoresDep
) -> FileContentPage:
    """The text the file was indexed from (empty until its ingestion completes)."""
    text = stores.file_text(vector_store_id, file_id)
    return FileContentPage(data=[TextPart(text=text)] if text else [])
