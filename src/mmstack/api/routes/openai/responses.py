from __future__ import annotations

from typing import NoReturn

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mmstack.api.deps import authorize
from mmstack.api.routes.openai.answer_source import AnswersDep
from mmstack.api.routes.openai.disconnect import unless_disconnected
from mmstack.api.routes.openai.event_stream import EventStreamResponse
from mmstack.api.routes.openai.responses_events import response_events
from mmstack.api.routes.openai.responses_output import ResponseBuilder
from mmstack.api.routes.openai.responses_request import (
    chat_request,
    retrieval_scope,
    search_query,
)
from mmstack.api.routes.openai.schemas.responses import ResponseObject, ResponsesRequest
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.errors import NotFoundError

router = APIRouter(
    prefix="/v1/responses",
    tags=["openai: responses"],
    dependencies=[Depends(authorize(EndpointGroup.RESPONSES, Permission.INFER))],
)


@router.post(
    "",
    response_model=None,
    responses={200: {"model": ResponseObject, "description": "or an event stream"}},
)
async def create_response(
    body: ResponsesRequest, request: Request, answers: AnswersDep
) -> Response:
    """A model response to text input, over the chat models; the `file_search` tool answers
    from vector stores. Streamed as the Responses API's semantic events."""
    chat = chat_request(body)
    scope = retrieval_scope(body)
    source = answers.source(scope)
    builder = ResponseBuilder(body, search_query=search_query(chat) if scope else None)
    if body.stream:
        stream = await unless_disconnected(request, source.stream(chat))
        return EventStreamResponse(response_events(builder, stream), stream)
    completion = await unless_disconnected(request, source.complete(chat))
    return Response(builder.completed(completion).model_dump_json(), media_type="application/json")


@router.get("/{response_id}", response_model=None)
def retrieve_response(response_id: str) -> NoReturn:
    raise NotFoundError(
        f"response '{response_id}' not found: mmstack does not store responses",
        param="response_id",
    )
