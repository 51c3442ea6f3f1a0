from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from mmstack.api.deps import ChunkingDep, FileBatchesDep, authorize
from mmstack.api.routes.openai.pages import POLL_AFTER_MS, POLL_HEADER, PageDep
from mmstack.api.routes.openai.schemas.vector_store_files import (
    FileBatchCreate,
    FileBatchOut,
    StoreFileOut,
)
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import EndpointGroup
from mmstack.store.file_states import FileState

router = APIRouter(
    prefix="/v1/vector_stores/{vector_store_id}/file_batches",
    tags=["openai: vector stores"],
    dependencies=[Depends(authorize(EndpointGroup.VECTOR_STORES))],
)


@router.post("")
def create_file_batch(
    vector_store_id: str, body: FileBatchCreate, batches: FileBatchesDep
) -> FileBatchOut:
    """Attach several files at once; either `file_ids` (with the batch's `attributes`) or
    `files` (each with its own)."""
    return FileBatchOut.of(batches.create(vector_store_id, body.to_attach()))


@router.get("/{batch_id}")
def retrieve_file_batch(
    vector_store_id: str, batch_id: str, batches: FileBatchesDep, response: Response
) -> FileBatchOut:
    response.headers[POLL_HEADER] = POLL_AFTER_MS
    return FileBatchOut.of(batches.get(vector_store_id, batch_id))


@router.post("/{batch_id}/cancel")
def cancel_file_batch(vector_store_id: str, batch_id: str, batches: FileBatchesDep) -> FileBatchOut:
    """Cancel the batch's files that no worker has started; the others finish."""
    return FileBatchOut.of(batches.cancel(vector_store_id, batch_id))


@router.get("/{batch_id}/files")
def list_batch_files(
    vector_store_id: str,
    batch_id: str,
    batches: FileBatchesDep,
    chunking: ChunkingDep,
    page: PageDep,
    state: Annotated[FileState | None, Query(alias="filter")] = None,
) -> ListOut[StoreFileOut]:
    found = batches.files(vector_store_id, batch_id, page, state=state)
    return ListOut(
        data=[StoreFileOut.of(m, chunking) for m in found.items], has_more=found.has_more
    )
