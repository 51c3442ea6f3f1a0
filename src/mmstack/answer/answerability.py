"""Asking the model whether the passages hold the answer, before it answers.

One token is generated; the probability of YES is read from the token's log-probabilities
(YES and NO in any case, other tokens ignored), so the decision has a threshold rather than
a coin-flip on greedy decoding. A backend that returns no log-probabilities gives 1.0 for a
YES and 0.0 otherwise.
"""

from __future__ import annotations

import math
from typing import Any

from mmstack.answer import prompts
from mmstack.answer.ports import ChatModels
from mmstack.llm.types import ChatCompletionRequest

TOP_LOGPROBS = 10


async def probability_yes(llm: ChatModels, request: ChatCompletionRequest) -> float:
    asked = request.model_copy(
        update={
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
            "stream_options": None,
        }
    )
    stream = await llm.stream(asked)
    text: list[str] = []
    candidates: list[Any] = []
    try:
        async for chunk in stream:
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
                candidates += _top_logprobs(choice.logprobs)
    finally:
        await stream.aclose()
    if candidates:
        yes = no = 0.0
        for token, logprob in candidates:
            word = token.strip().lower()
            if word == "yes":
                yes += math.exp(logprob)
            elif word == "no":
                no += math.exp(logprob)
        if yes + no > 0:
            return yes / (yes + no)
    return 1.0 if "".join(text).strip().lower().startswith("yes") else 0.0


class Confirmation:
    """The second look. Once the answer's first fact is found in a passage, the model is
    asked again, about that text alone; the answer goes on when the mean of the two
    probabilities of YES (all the passages, then the one text) reaches the threshold. The
    first look sees every passage and reads the question against all of them; the second
    sees only the words the answer stands on and where they are from (file and section),
    so the two err on different questions."""

    def __init__(
        self, llm: ChatModels, model: str, question: str, first: float, threshold: float
    ) -> None:
        self._llm = llm
        self._model = model
        self._question = question
        self._first = first
        self._threshold = threshold
        self.chance: float | None = None

    @staticmethod
    def possible(first: float, threshold: float) -> bool:
        """Whether a second look could still reach the threshold after a first of `first`."""
        return (first + 1.0) / 2 >= threshold

    async def __call__(self, quote: str, where: str) -> bool:
        request = prompts.confirmation(self._model, self._question, quote, where)
        self.chance = await probability_yes(self._llm, request)
        return (self._first + self.chance) / 2 >= self._threshold


def _top_logprobs(logprobs: Any) -> list[tuple[str, float]]:
    """(token, logprob) pairs of the first generated token, from OpenAI's shape."""
    if not isinstance(logprobs, dict):
        return []
    content = logprobs.get("content")
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        return []
    top = content[0].get("top_logprobs") or [content[0]]
    pairs = []
    for item in top:
        if isinstance(item, dict) and isinstance(item.get("token"), str):
            logprob = item.get("logprob")
            if isinstance(logprob, int | float):
                pairs.append((item["token"], float(logprob)))
    return pairs
