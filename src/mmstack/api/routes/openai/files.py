from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mmstack.api.deps import FilesDep, MeterDep, authorize, upload_reads
from mmstack.api.routes.openai.schemas.common import Deleted
from mmstack.api.routes.openai.schemas.files import FileObjectOut
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import EndpointGroup
from mmstack.errors import InvalidRequestError
from mmstack.knowledge.intake import UPLOAD_PURPOSES
from mmstack.store.blobs import READ_BLOCK
from mmstack.store.pagination import Order, PageRequest

router = APIRouter(
    prefix="/v1/files",
    tags=["openai: files"],
    dependencies=[Depends(authorize(EndpointGroup.FILES))],
)


@router.post("")
async def upload_file(
    request: Request,
    files: FilesDep,
    meter: MeterDep,
    file: Annotated[UploadFile, File(json_schema_extra={"minLength": 1})],
    purpose: Annotated[str, Form(json_schema_extra={"enum": list(UPLOAD_PURPOSES)})],
) -> FileObjectOut:
    """Store a file on its own; it stays until deleted (`expires_after` is ignored)."""
    if not file.filename:
        raise InvalidRequestError("the uploaded file needs a filename", param="file")
    async with upload_reads(request):
        # One byte past the limit is enough to know the file is too large.
        data = await file.read(files.max_file_bytes + 1)
        size = len(data)
        await run_in_threadpool(meter.check_upload, size)
        stored = await run_in_threadpool(files.upload, file.filename, data, purpose=purpose)
        del data
    await run_in_threadpool(meter.record_upload, size)
    return FileObjectOut.of(stored)


@router.get("")
def list_files(
    files: FilesDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: Order = "desc",
    purpose: str | None = None,
) -> ListOut[FileObjectOut]:
    page = files.list(PageRequest(limit=limit, order=order, after=after), purpose=purpose)
    return ListOut(data=[FileObjectOut.of(f) for f in page.items], has_more=page.has_more)


@router.get("/{file_id}")
def retrieve_file(file_id: str, files: FilesDep) -> FileObjectOut:
    return FileObjectOut.of(files.get(file_id))


@router.delete("/{file_id}")
def delete_file(file_id: str, files: FilesDep) -> Deleted:
    """Delete the file and remove it from every vector store."""
    files.delete(file_id)
    return Deleted(id=file_id, object="file")


# Bytes in their own media type (the file's, the image's), documented as such.
_BYTES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The bytes, in their own media type",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get("/{file_id}/content", response_class=Response, responses=_BYTES)
def file_content(file_id: str, files: FilesDep) -> Response:
    stored, stream = files.content(file_id)
    return StreamingResponse(
        _chunks(stream),
        media_type=stored.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stored.filename)}",
            "Content-Length": str(stored.size_bytes),
        },
    )


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """The stream in pieces (the whole file never in memory), closed at the end."""
    with stream:
        while piece := stream.read(READ_BLOCK):
            yield piece


@router.get("/{file_id}/thumbnails/{thumbnail_id}", response_class=Response, responses=_BYTES)
def file_thumbnail(file_id: str, thumbnail_id: str, files: FilesDep) -> Response:
    """An image derived from the file: its preview, a video frame, a page render (the
    `thumbnail_url` of search results and citations)."""
    media_type, data = files.image(file_id, thumbnail_id)
    # Content-addressed: the bytes behind this URL never change.
    return Response(
        data, media_type=media_type, headers={"Cache-Control": "private, max-age=31536000"}
    )
