"""The prompts. The answerability check and the answer share everything but their last
line, so a model server that caches prompt prefixes (llama.cpp does) reads the passages once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmstack.index.search import SearchHit
from mmstack.llm.types import ChatCompletionRequest

SYSTEM = (
    "You answer questions about the user's documents using only the numbered passages "
    "given with the question, never outside knowledge."
)
# No way out in the answer itself: whether the passages hold the answer is the check's to
# judge (ANSWERABLE), and a small model offered "reply only: ..." takes it even with the
# answer in front of it. What it writes is verified sentence by sentence.
ANSWER = (
    "Answer the question from the passages. Be brief: one to three sentences, or a short "
    "list when the answer has several items; give numbers with their units. End each "
    "sentence or list item with the number of the passage that states it, like [2]. If the "
    "passages answer only part of the question, answer that part and then say what they "
    "do not cover."
)
ANSWERABLE = "Do the passages above state the answer to this question? Reply with only YES or NO."
# The second look, at the text the answer's first fact was found in, on its own.
CONFIRM = "Does the text above state the answer to this question? Reply with only YES or NO."


def heading(number: int, hit: SearchHit) -> str:
    return f"[{number}] {source(hit)}"


def source(hit: SearchHit) -> str:
    """Where a passage is: its file, page and section."""
    parts = [hit.filename]
    anchor = hit.anchor
    if anchor.page_start is not None:
        parts.append(f"p. {anchor.page_start}")
    if anchor.heading_path:
        parts.append(" > ".join(anchor.heading_path))
    return ", ".join(parts)


def user_message(question: str, passages: Sequence[SearchHit], instruction: str) -> str:
    blocks = [f"{heading(i, hit)}\n{hit.text.strip()}" for i, hit in enumerate(passages, 1)]
    listed = "\n\n".join(blocks) if blocks else "(no passages)"
    return f"Passages:\n\n{listed}\n\nQuestion: {question.strip()}\n\n{instruction}"


def request(
    model: str,
    question: str,
    passages: Sequence[SearchHit],
    instruction: str,
    *,
    instructions: str | None = None,
    **fields: Any,
) -> ChatCompletionRequest:
    """The prompt asking `instruction` about `question` over `passages`; `instructions`
    (a knowledge model's, from its administrator) go after the system prompt."""
    system = f"{SYSTEM}\n\n{instructions.strip()}" if instructions else SYSTEM
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": user_message(question, passages, instruction)},
    ]
    return ChatCompletionRequest.model_validate({"model": model, "messages": messages, **fields})


def confirmation(
    model: str, question: str, quote: str, where: str, **fields: Any
) -> ChatCompletionRequest:
    """Asks whether `quote` (the passage text the answer's first fact stands on) answers
    `question`, with only where it comes from around it (`where`: its file and section,
    which often name what the quote is about)."""
    text = f"Text (from {where}):\n\n{quote.strip()}\n\nQuestion: {question.strip()}\n\n{CONFIRM}"
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    return ChatCompletionRequest.model_validate({"model": model, "messages": messages, **fields})
