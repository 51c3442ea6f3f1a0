"""What the user states about themselves in a turn, noted as memories by the chat model: one
request, its answer held to a JSON schema. Questions, general knowledge and what the
assistant said are not memories; a turn that states nothing adds nothing; a note that says
what a current memory says is that memory.

Not yet: telling that a new note changes an older one (the same subject, a new value). The
bundled 1.5B model, shown the current memories beside the message, noted nothing new for
a message that changed one, and asked whether two notes were about the same thing, said no
for every pair tried; both need the evaluation set of issue 21 to be chosen honestly. Until
then both notes stay, the newer recalled first when it is closer to the question, and the
person edits or deletes the old one (`/api/memories`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.concurrency import run_in_threadpool

from mmstack.errors import MMStackError
from mmstack.llm.memories import KINDS, MemoryInfo, MemoryService
from mmstack.llm.types import ChatCompletion, ChatCompletionRequest

log = logging.getLogger(__name__)

Complete = Callable[[ChatCompletionRequest], Awaitable[ChatCompletion]]

INSTRUCTIONS: Final = (
    "You keep notes about a user: facts and preferences they state about themselves "
    "(their name, where they live, their work, family, plans, what they like or dislike, "
    "how they want to be answered). From the user's message, note each such fact or "
    "preference as one short sentence about 'the user' (for example 'The user lives in "
    "Lyon.'). Note only what the user says about themselves: not their questions, not "
    "general knowledge, not guesses. If the message states nothing about the user, give no "
    "notes."
)
SCHEMA: Final = {
    "type": "object",
    "properties": {
        "notes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "kind": {"type": "string", "enum": list(KINDS)},
                },
                "required": ["text", "kind"],
            },
        }
    },
    "required": ["notes"],
}
MAX_NOTES: Final = 5


def extraction_request(model: str, said: str) -> ChatCompletionRequest:
    prompt = f"The user's message:\n{said}"
    return ChatCompletionRequest.model_validate(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": prompt},
            ],
            "temperature": 0,
            "max_tokens": 400,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "notes", "schema": SCHEMA, "strict": True},
            },
        }
    )


def parse_notes(text: str) -> list[dict[str, Any]]:
    """The notes of the model's answer; none when it is not the JSON asked for. A note
    that is a question is the model copying the message, not a note."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        return []
    notes = answer.get("notes") if isinstance(answer, dict) else None
    if not isinstance(notes, list):
        return []
    return [
        note
        for note in notes[:MAX_NOTES]
        if isinstance(note, dict)
        and isinstance(note.get("text"), str)
        and note["text"].strip()
        and not note["text"].strip().endswith("?")
        and note.get("kind") in KINDS
    ]


async def extract_memories(
    complete: Complete, model: str, memories: MemoryService, said: str, *, source: str
) -> list[MemoryInfo]:
    """Note what `said` (the user's words in a turn) states about the user; the memories
    made (or found saying the same). A failure is logged and changes nothing: the answer
    went out already."""
    if not said.strip():
        return []
    try:
        completion = await complete(extraction_request(model, said))
    except Exception:
        log.warning("memory extraction failed", exc_info=True)
        return []
    choice = completion.choices[0] if completion.choices else None
    changed = []
    for note in parse_notes((choice.message.content or "") if choice else ""):
        try:
            made = await run_in_threadpool(memories.add, note["text"], note["kind"], source=source)
        except MMStackError:  # a note too long to keep
            log.info("memory note not kept", exc_info=True)
            continue
        changed.append(made)
    return changed
