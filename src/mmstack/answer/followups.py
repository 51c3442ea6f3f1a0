"""Follow-up questions: "and when did it finish?" searched as the question it stands for.

A follow-up leans on the conversation ("it", "the second one", a missing verb), so neither
retrieval nor the answer prompt can use it as it is. The model rewrites it once, from the
last turns, into a question that stands alone; that question is what is searched and what
the passages are asked about, so the citations point at the passages that answer it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mmstack.answer.citations import strip_markers
from mmstack.answer.ports import ChatModels
from mmstack.llm.types import ChatCompletionRequest

# The last turns are enough to resolve a reference; older ones only cost prompt time.
MAX_TURNS = 6
MAX_TURN_CHARS = 600
MAX_QUESTION_TOKENS = 64

SYSTEM = (
    "You rewrite the last message of a conversation as a question that can be understood "
    "without the conversation. Name the thing it is about: replace every pronoun or vague "
    "reference (it, they, that, this one, the second one, the other) with what it refers "
    "to, and fill in what a short follow-up leaves out. Keep everything else the user "
    "asked. If the message already stands on its own, repeat it unchanged. Reply with only "
    "the question."
)
# One worked example (about nothing in any user's documents): small models follow an
# example far better than a description.
EXAMPLE = (
    "Conversation:\n"
    "User: Which database does the billing service use?\n"
    "Assistant: The billing service uses PostgreSQL 15.\n"
    "User: and how often is it backed up?\n\n"
    "The last message as a standalone question:",
    "How often is the PostgreSQL database of the billing service backed up?",
)


@dataclass(frozen=True, slots=True)
class Turn:
    """A message before the question: what the user asked or the assistant answered."""

    role: Literal["user", "assistant"]
    text: str


def recent(history: Sequence[Turn]) -> list[Turn]:
    """The turns worth showing: the last few with text, each cut to a readable length,
    citation markers removed."""
    kept = [t for t in history if t.text.strip()][-MAX_TURNS:]
    return [Turn(t.role, _shorten(strip_markers(t.text.strip()))) for t in kept]


def request(model: str, history: Sequence[Turn], question: str) -> ChatCompletionRequest:
    lines = [f"{'User' if t.role == 'user' else 'Assistant'}: {t.text}" for t in recent(history)]
    lines.append(f"User: {question.strip()}")
    prompt = "Conversation:\n" + "\n".join(lines) + "\n\nThe last message as a standalone question:"
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": EXAMPLE[0]},
        {"role": "assistant", "content": EXAMPLE[1]},
        {"role": "user", "content": prompt},
    ]
    return ChatCompletionRequest.model_validate(
        {
            "model": model,
            "messages": messages,
            "max_tokens": MAX_QUESTION_TOKENS,
            "temperature": 0.0,
        }
    )


async def standalone_question(
    llm: ChatModels, model: str, history: Sequence[Turn], question: str
) -> str:
    """`question` rewritten to stand without `history`; `question` itself when there is no
    history, or when the model's rewrite is unusable (empty, or not one line)."""
    if not recent(history):
        return question
    completion = await llm.complete(request(model, history, question))
    text = completion.choices[0].message.content if completion.choices else None
    rewritten = _clean(text or "")
    return rewritten or question


def _clean(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        return ""
    line = lines[0]
    for label in ("standalone question:", "question:", "user:"):
        if line.lower().startswith(label):
            line = line[len(label) :].strip()
    return line.strip('"\u201c\u201d ')


def _shorten(text: str) -> str:
    if len(text) <= MAX_TURN_CHARS:
        return text
    cut = text[:MAX_TURN_CHARS]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_TURN_CHARS // 2 else cut) + " ..."
