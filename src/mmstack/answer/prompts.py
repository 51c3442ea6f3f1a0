"""The prompts. The answerability check and the answer share everything but their last
line, so a model server that caches prompt prefixes (llama.cpp does) reads the passages once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmstack.answer.types import REFUSAL
from mmstack.index.search import SearchHit
from mmstack.llm.types import ChatCompletionRequest

SYSTEM = (
    "You answer questions about the user's documents using only the numbered passages "
    "given with the question, never outside knowledge."
)
ANSWER = (
    "Answer the question using only facts the passages state. Be brief: one to three "
    "sentences, or a short list when the answer has several items; give numbers with "
    "their units. End each sentence or list item with the number of the passage that "
    "states it, like [2]. If the passages answer only part of the question, answer that "
    "part and then say what they do not cover. If the passages do not state the answer, "
    f"reply only: {REFUSAL}"
)
# Asked when the model declined although it had judged the passages to hold the answer.
INSIST = (
    "Answer the question in one short sentence with the fact from the passages that "
    "answers it, ending with the number of the passage, like [2]."
)
ANSWERABLE = "Do the passages above state the answer to this question? Reply with only YES or NO."


def heading(number: int, hit: SearchHit) -> str:
    parts = [hit.filename]
    anchor = hit.anchor
    if anchor.page_start is not None:
        parts.append(f"p. {anchor.page_start}")
    if anchor.heading_path:
        parts.append(" > ".join(anchor.heading_path))
    return f"[{number}] " + ", ".join(parts)


def user_message(question: str, passages: Sequence[SearchHit], instruction: str) -> str:
    blocks = [f"{heading(i, hit)}\n{hit.text.strip()}" for i, hit in enumerate(passages, 1)]
    listed = "\n\n".join(blocks) if blocks else "(no passages)"
    return f"Passages:\n\n{listed}\n\nQuestion: {question.strip()}\n\n{instruction}"


def request(
    model: str,
    question: str,
    passages: Sequence[SearchHit],
    instruction: str,
    **fields: Any,
) -> ChatCompletionRequest:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": user_message(question, passages, instruction)},
    ]
    return ChatCompletionRequest.model_validate({"model": model, "messages": messages, **fields})
