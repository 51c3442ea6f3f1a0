"""How many grounded answers run at once. Each one costs seconds of this machine's CPU
(retrieval, the answerability judgement, the check of every sentence) besides the model's
time; past the limit another waits in no queue: it is refused at once with 429 and a
`Retry-After`, so a client backs off instead of a request hanging behind dozens of others
(bench/load.py measured answers queueing to 15 s at 50 people on 2 cores)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Final

from mmstack import metrics
from mmstack.answer.stream import AnswerStream
from mmstack.answer.types import AnswerEvent
from mmstack.errors import RateLimitError

# What a refused client is told to wait: about one answer's time here.
RETRY_AFTER_SECONDS: Final = 2.0


class AnswerSlots:
    """At most `limit` answers in progress (0: no limit); each holds a slot until its
    stream is closed or has ended."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._taken = 0
        self._lock = threading.Lock()

    @property
    def taken(self) -> int:
        return self._taken

    def take(self) -> None:
        with self._lock:
            if self._limit and self._taken >= self._limit:
                metrics.rate_limited.labels("answers in progress").inc()
                raise RateLimitError(
                    f"{self._limit} answers are in progress, as many as this server runs at "
                    "once (answer.max_in_flight): try again shortly",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            self._taken += 1

    def give_back(self) -> None:
        with self._lock:
            self._taken -= 1


class HeldStream:
    """An answer stream that gives its slot back once, when closed or ended."""

    def __init__(self, stream: AnswerStream, slots: AnswerSlots) -> None:
        self._stream = stream
        self._slots = slots
        self._held = True

    def __aiter__(self) -> AsyncIterator[AnswerEvent]:
        return self

    async def __anext__(self) -> AnswerEvent:
        try:
            return await self._stream.__anext__()
        except StopAsyncIteration:
            self._release()
            raise

    async def aclose(self) -> None:
        self._release()
        await self._stream.aclose()

    def _release(self) -> None:
        if self._held:
            self._held = False
            self._slots.give_back()
