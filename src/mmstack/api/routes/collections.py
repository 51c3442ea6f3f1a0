from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from mmstack.api.deps import (
    CollectionsDep,
    IntakeDep,
    MeterDep,
    PreviewsDep,
    SettingsDep,
    authorize,
    upload_reads,
)
from mmstack.api.schemas import (
    TAG,
    CollectionCreate,
    CollectionOut,
    CollectionUpdate,
    FileOut,
    ListOut,
    PageOut,
    PassageOut,
)
from mmstack.auth.roles import EndpointGroup
from mmstack.errors import InvalidRequestError
from mmstack.knowledge.labels import MAX_TAGS
from mmstack.store.models import FileStatus

router = APIRouter(
    prefix="/api/collections",
    tags=["collections"],
    dependencies=[Depends(authorize(EndpointGroup.COLLECTIONS))],
)


@router.post("", status_code=201)
def create_collection(body: CollectionCreate, collections: CollectionsDep) -> CollectionOut:
    return CollectionOut.of(collections.create(body.name, description=body.description))


@router.get("")
def list_collections(collections: CollectionsDep) -> ListOut[CollectionOut]:
    return ListOut(data=[CollectionOut.of(info) for info in collections.list_all()])


@router.get("/{collection}")
def get_collection(collection: str, collections: CollectionsDep) -> CollectionOut:
    """A collection by id or by name."""
    return CollectionOut.of(collections.get(collection))


@router.patch("/{collection}")
def update_collection(
    collection: str, body: CollectionUpdate, collections: CollectionsDep
) -> CollectionOut:
    """Rename a collection or change its description."""
    return CollectionOut.of(
        collections.update(collection, name=body.name, description=body.description)
    )


@router.delete("/{collection}")
def delete_collection(collection: str, collections: CollectionsDep) -> dict[str, object]:
    """Deletes the collection's chunks and vectors, and the files only it used."""
    deleted = collections.delete(collection)
    return {"id": deleted, "object": "collection.deleted", "deleted": True}


@router.post("/{collection}/files", status_code=201)
async def upload_files(
    request: Request,
    collection: str,
    settings: SettingsDep,
    intake: IntakeDep,
    collections: CollectionsDep,
    meter: MeterDep,
    files: Annotated[list[UploadFile], File(description="One or more files", min_length=1)],
    tags: Annotated[
        list[Annotated[str, Field(json_schema_extra=TAG)]] | None,
        Form(description="Tags for every uploaded file", json_schema_extra={"maxItems": MAX_TAGS}),
    ] = None,
) -> ListOut[FileOut]:
    """Stores each file and queues its ingestion. A file over the size limit or of an
    unsupported type is recorded as failed with its reason; the others go on."""
    collection_id = await run_in_threadpool(collections.resolve_id, collection)
    limit = settings.ingest.max_file_bytes
    results = []
    for upload in files:
        if not upload.filename:
            raise InvalidRequestError("every uploaded file needs a filename", param="files")
        async with upload_reads(request):
            # Read one byte past the limit: enough to know the file is too large.
            data = await upload.read(limit + 1)
            size = len(data)
            await run_in_threadpool(meter.check_upload, size)
            added = await run_in_threadpool(
                partial(intake.add_file, tags=tags or ()),
                collection_id,
                upload.filename,
                data,
            )
            del data
        if added.created:
            await run_in_threadpool(meter.record_upload, size)
        results.append(FileOut.of(added.collection_file, duplicate=not added.created))
    return ListOut(data=results)


@router.get("/{collection}/files")
def list_files(
    collection: str,
    collections: CollectionsDep,
    status: Annotated[FileStatus | None, Query()] = None,
) -> ListOut[FileOut]:
    return ListOut(data=[FileOut.of(m) for m in collections.files(collection, status=status)])


@router.get("/{collection}/files/{file_id}")
def get_file(collection: str, file_id: str, collections: CollectionsDep) -> FileOut:
    """A file's ingestion status and progress."""
    return FileOut.of(collections.file(collection, file_id))


@router.delete("/{collection}/files/{file_id}")
def delete_file(collection: str, file_id: str, collections: CollectionsDep) -> dict[str, object]:
    collections.delete_file(collection, file_id)
    return {"id": file_id, "object": "collection.file.deleted", "deleted": True}


@router.post("/{collection}/files/{file_id}/retry")
def retry_file(
    collection: str, file_id: str, collections: CollectionsDep, intake: IntakeDep
) -> FileOut:
    """Queue a failed file again."""
    collection_id = collections.resolve_id(collection)
    intake.retry_file(collection_id, file_id)
    return FileOut.of(collections.file(collection_id, file_id))


@router.get("/{collection}/files/{file_id}/passages")
def file_passages(
    collection: str, file_id: str, collections: CollectionsDep
) -> ListOut[PassageOut]:
    """The passages the file was indexed as, in order, each with its page, region or
    seconds (empty until its ingestion completes)."""
    return ListOut(data=[PassageOut.of(c) for c in collections.file_passages(collection, file_id)])


@router.get("/{collection}/files/{file_id}/pages/{page}")
def file_page(
    collection: str,
    file_id: str,
    page: Annotated[int, Path(ge=1, le=100_000)],
    previews: PreviewsDep,
    quote: Annotated[str | None, Query(max_length=4096)] = None,
) -> PageOut:
    """A PDF's page as a picture (a PNG data URL), with the boxes of the lines that hold
    `quote` (what a citation quotes) as fractions of the page."""
    return PageOut.of(page, previews.page(collection, file_id, page, quote=quote))
