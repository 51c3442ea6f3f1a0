"""Fitting passages into the prompt: the best-ranked passages that fit the token budget,
counted by the model's own tokenizer (chat template included) when the backend can.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from mmstack.index.search import SearchHit
from mmstack.llm.types import ChatCompletionRequest

Counter = Callable[[ChatCompletionRequest], Awaitable[int | None]]
Builder = Callable[[Sequence[SearchHit]], ChatCompletionRequest]

# Characters per token when the backend cannot count (upstreams): low on purpose, so the
# estimate errs on the long side.
CHARS_PER_TOKEN = 3.0
_MIN_PASSAGE_CHARS = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Packed:
    passages: list[SearchHit]
    prompt_tokens: int
    counted: bool  # False: `prompt_tokens` is an estimate


async def prompt_tokens(request: ChatCompletionRequest, count: Counter) -> tuple[int, bool]:
    counted = await count(request)
    if counted is not None:
        return counted, True
    chars = sum(len(m.text()) + 16 for m in request.messages)
    return int(chars / CHARS_PER_TOKEN) + 1, False


async def pack(hits: Sequence[SearchHit], build: Builder, count: Counter, budget: int) -> Packed:
    """The longest prefix of `hits` whose prompt fits `budget` tokens. When not even the
    first passage fits, it is cut short (at least a few sentences are kept); when the prompt
    is over budget with no passage at all, it is returned as it is and the caller decides."""
    chosen = list(hits)
    tokens, counted = await prompt_tokens(build(chosen), count)
    while tokens > budget and len(chosen) > 1:
        chosen.pop()
        tokens, counted = await prompt_tokens(build(chosen), count)
    if tokens > budget and chosen:
        first = chosen[0]
        without, _ = await prompt_tokens(build([]), count)
        for _attempt in range(4):
            room = max(budget - without, 0) / max(tokens - without, 1)
            keep = int(len(first.text) * room * 0.95)
            if keep < _MIN_PASSAGE_CHARS:
                chosen = []
                tokens = without
                break
            first = _cut(first, keep)
            chosen = [first]
            tokens, counted = await prompt_tokens(build(chosen), count)
            if tokens <= budget:
                break
    return Packed(chosen, tokens, counted)


def _cut(hit: SearchHit, chars: int) -> SearchHit:
    text = hit.text[:chars]
    # End on a word boundary where there is one near.
    space = text.rfind(" ", int(chars * 0.9))
    if space > 0:
        text = text[:space]
    anchor = dataclasses.replace(hit.anchor, char_end=hit.anchor.char_start + len(text))
    return dataclasses.replace(hit, text=text, anchor=anchor)
