from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mmstack.api.deps import authorize
from mmstack.api.routes.openai.answer_source import AnswersDep
from mmstack.api.routes.openai.chat_events import chat_events
from mmstack.api.routes.openai.disconnect import unless_disconnected
from mmstack.api.routes.openai.event_stream import EventStreamResponse
from mmstack.api.routes.openai.schemas.chat import ChatCompletionBody
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.llm.types import ChatCompletion

router = APIRouter(
    prefix="/v1",
    tags=["openai: chat"],
    dependencies=[Depends(authorize(EndpointGroup.CHAT, Permission.INFER))],
)


@router.post(
    "/chat/completions",
    response_model=None,
    responses={
        200: {
            "model": ChatCompletion,
            "description": "or, with `stream`, an event stream of chunks",
            "content": {"text/event-stream": {}},
        }
    },
)
async def create_chat_completion(
    body: ChatCompletionBody, request: Request, answers: AnswersDep
) -> Response:
    """OpenAI's chat completions, streamed or not; with `vector_store_ids` (an mmstack
    extension) or a knowledge model (`kb/<collection>`, see `GET /v1/models`), answered
    from those documents with citations."""
    routed = answers.route(body.chat_request(), body.retrieval())
    source, chat = routed.source, routed.request
    if chat.stream:
        stream = await unless_disconnected(request, source.stream(chat))
        return EventStreamResponse(chat_events(stream), stream)
    completion = await unless_disconnected(request, source.complete(chat))
    # Serialized by pydantic directly: the backend's extra fields included, and fast.
    return Response(completion.model_dump_json(), media_type="application/json")
