from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mmstack.api.deps import (
    AgentsDep,
    ApiConversationsDep,
    MemoriesDep,
    SettingsDep,
    StoredResponsesDep,
    authorize,
)
from mmstack.api.routes.openai.agent_requests import with_agent
from mmstack.api.routes.openai.answer_source import AnswersDep
from mmstack.api.routes.openai.conversation_items import (
    context_messages,
    new_items,
    output_items,
)
from mmstack.api.routes.openai.disconnect import unless_disconnected
from mmstack.api.routes.openai.event_stream import EventStreamResponse
from mmstack.api.routes.openai.mcp_loop import McpLoop, approvals_in
from mmstack.api.routes.openai.memory_use import (
    recall,
    remember_later,
    said_by_user,
    uses_memory,
    with_recalled,
)
from mmstack.api.routes.openai.responses_events import response_events
from mmstack.api.routes.openai.responses_output import ResponseBuilder
from mmstack.api.routes.openai.responses_replay import replayed_events
from mmstack.api.routes.openai.responses_request import (
    chat_request,
    input_messages,
    mcp_tools,
    retrieval_scope,
    search_query,
)
from mmstack.api.routes.openai.schemas.common import Deleted
from mmstack.api.routes.openai.schemas.responses import (
    ResponseObject,
    ResponsesRequest,
)
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.errors import InvalidRequestError
from mmstack.llm.agents import AGENT_MODEL_PREFIX

router = APIRouter(
    prefix="/v1/responses",
    tags=["openai: responses"],
    dependencies=[Depends(authorize(EndpointGroup.RESPONSES, Permission.INFER))],
)


@router.post(
    "",
    response_model=None,
    responses={
        200: {
            "model": ResponseObject,
            "description": "or, with `stream`, an event stream",
            "content": {"text/event-stream": {}},
        }
    },
)
async def create_response(
    body: ResponsesRequest,
    request: Request,
    answers: AnswersDep,
    stored: StoredResponsesDep,
    conversations: ApiConversationsDep,
    agents: AgentsDep,
    memories: MemoriesDep,
    settings: SettingsDep,
) -> Response:
    """A model response to text input, over the chat models; the `file_search` tool answers
    from vector stores; function tools' calls are returned as `function_call` items, and a
    `function_call_output` item in the next request's input continues the turn; `mcp`
    tools (servers on `tools.mcp_servers`) are called by mmstack in a bounded loop. Streamed
    as the Responses API's semantic events. Kept (`store`, the default) for retrieval and
    for the next turn (`previous_response_id`). With `conversation`, the conversation's
    items come before the input, and the input and output are added to it. The model
    `agent/<name>` is a stored agent: its model, instructions and tools answer."""
    requested = body.model
    if requested.startswith(AGENT_MODEL_PREFIX):
        name = requested.removeprefix(AGENT_MODEL_PREFIX)
        agent = await run_in_threadpool(partial(agents.get, name, param="model"))
        body = with_agent(body, agent, settings.llm.default_model)
    conversation = body.conversation_id
    if conversation is not None and body.previous_response_id is not None:
        raise InvalidRequestError(
            "give previous_response_id or conversation, not both: a conversation already "
            "holds the turns before",
            param="conversation",
        )
    servers = mcp_tools(body, settings.tools.mcp_servers)
    history, earlier = None, []
    if body.previous_response_id is not None:
        history = await run_in_threadpool(stored.conversation, body.previous_response_id)
        if servers:
            earlier = (await run_in_threadpool(stored.get, body.previous_response_id))["output"]
    elif conversation is not None:
        earlier = await run_in_threadpool(conversations.context, conversation)
        history = context_messages(earlier)
    approvals = approvals_in(body.input, earlier) if not isinstance(body.input, str) else []
    remember = uses_memory(body) and await run_in_threadpool(memories.enabled)
    recalled = await recall(body, memories, settings.memory) if remember else []
    if approvals and not servers:
        raise InvalidRequestError(
            "an mcp_approval_response needs the mcp tool whose call it approves in tools",
            param="tools",
        )
    routed = answers.route(
        chat_request(with_recalled(body, recalled), history), retrieval_scope(body)
    )
    source, chat, scope = routed.source, routed.request, routed.scope
    if scope is not None and (chat.tools or servers or uses_memory(body)):
        raise InvalidRequestError(
            f"function, mcp and memory tools cannot be used with '{body.model}': its answers "
            "are written from its collections, not by the model's calls",
            param="tools",
        )
    keep = body.store and stored.enabled
    builder = ResponseBuilder(
        body.model_copy(update={"model": requested}),
        search_query=search_query(chat) if scope else None,
        stored=keep,
    )
    added = new_items(body.input, where="input") if conversation is not None else []

    async def finished(response: ResponseObject, turns: list[dict[str, Any]] | None = None) -> None:
        if keep:
            save = partial(
                stored.save,
                response.model_dump(mode="json"),
                turns=[*input_messages(body), *(turns or context_messages(output_items(response)))],
                previous_response_id=body.previous_response_id,
            )
            await run_in_threadpool(save)
        if conversation is not None:
            items = [*added, *output_items(response)]
            await run_in_threadpool(conversations.add, conversation, items, param="conversation")
        if remember and settings.memory.extract:
            remember_later(answers, chat.model, memories, said_by_user(body), source=response.id)

    if servers:
        loop = McpLoop(
            source=source,
            builder=builder,
            settings=settings.tools,
            max_tool_calls=body.max_tool_calls,
        )
        async for _ in loop.run(chat, servers, approvals):
            pass
        assert loop.result is not None
        done = loop.result
        if body.stream:
            return EventStreamResponse(replayed_events(done, partial(finished, turns=loop.turns)))
        await finished(done, loop.turns)
        return Response(done.model_dump_json(), media_type="application/json")
    if body.stream:
        stream = await unless_disconnected(request, source.stream(chat))
        return EventStreamResponse(response_events(builder, stream, finished), stream)
    completion = await unless_disconnected(request, source.complete(chat))
    response = builder.completed(completion)
    await finished(response)
    return Response(response.model_dump_json(), media_type="application/json")


@router.get("/{response_id}")
def retrieve_response(response_id: str, stored: StoredResponsesDep) -> ResponseObject:
    """A stored response (`store`), while it is kept."""
    return ResponseObject.model_validate(stored.get(response_id))


@router.delete(
    "/{response_id}", dependencies=[Depends(authorize(EndpointGroup.RESPONSES, Permission.WRITE))]
)
def delete_response(response_id: str, stored: StoredResponsesDep) -> Deleted:
    stored.delete(response_id)
    return Deleted(id=response_id, object="response")
