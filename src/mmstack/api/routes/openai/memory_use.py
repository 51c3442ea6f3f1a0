"""The `memory` tool of a Responses request (mmstack's own; an agent made with memory on
has it): the caller's memories closest to the input are recalled into the instructions,
and after the answer the model notes what the user stated about themselves. Nothing of the
kind happens when the person turned memory off."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.concurrency import run_in_threadpool

from mmstack.api.routes.openai.answer_source import Answers
from mmstack.api.routes.openai.responses_request import input_messages
from mmstack.api.routes.openai.schemas.responses import ResponsesRequest
from mmstack.config.settings import MemorySettings
from mmstack.llm.memories import MemoryInfo, MemoryService
from mmstack.llm.memory_extraction import extract_memories
from mmstack.llm.types import ChatCompletionRequest

RECALLED: Final = (
    "What the user told you in earlier conversations (use it when it helps; what they say "
    "now comes first):"
)
# Extractions under way: kept referenced until they finish (the event loop holds tasks
# weakly).
_running: set[asyncio.Task[Any]] = set()


def uses_memory(body: ResponsesRequest) -> bool:
    return any(tool.get("type") == "memory" for tool in body.tools)


def said_by_user(body: ResponsesRequest) -> str:
    """The user's words in this turn's input."""
    parts = []
    for message in input_messages(body):
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [part["text"] for part in content if part.get("type") == "text"]
    return "\n".join(part for part in parts if part.strip())


def with_recalled(body: ResponsesRequest, recalled: list[MemoryInfo]) -> ResponsesRequest:
    """The request with the recalled memories after its instructions."""
    if not recalled:
        return body
    notes = "\n".join(f"- {memory.text}" for memory in recalled)
    instructions = "\n\n".join(text for text in (body.instructions, f"{RECALLED}\n{notes}") if text)
    return body.model_copy(update={"instructions": instructions})


async def recall(
    body: ResponsesRequest, memories: MemoryService, settings: MemorySettings
) -> list[MemoryInfo]:
    return await run_in_threadpool(memories.recall, said_by_user(body), settings.recall_count)


def remember_later(
    answers: Answers, model: str, memories: MemoryService, said: str, *, source: str
) -> None:
    """Note the turn's memories once the answer is out (in this process, after the
    response: a server stopped meanwhile notes nothing)."""

    async def complete(request: ChatCompletionRequest) -> Any:
        return await answers.route(request, None).source.complete(request)

    task = asyncio.get_running_loop().create_task(
        extract_memories(complete, model, memories, said, source=source)
    )
    _running.add(task)
    task.add_done_callback(_running.discard)


async def settled() -> None:
    """Until the extractions under way have finished (for tests and a clean shutdown)."""
    while _running:
        await asyncio.gather(*_running, return_exceptions=True)
