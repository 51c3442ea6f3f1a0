"""Stops a whole (non-streamed) answer when its client goes away.

Starlette cancels a streaming response on disconnect, but not a handler still awaiting its
result: without this, a model would go on writing an answer nobody will read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import ClassVar, TypeVar

from starlette.requests import Request
from starlette.types import Receive

from mmstack.errors import MMStackError

T = TypeVar("T")


class ClientDisconnectedError(MMStackError):
    """Answered with nginx's 499, which nobody reads; it marks the request in the logs."""

    code = "client_disconnected"
    status_code: ClassVar[int] = 499


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """The result of `work`; cancelled (which stops the generation) if the client
    disconnects first. The request body must have been read already."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(request.receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this handler itself was cancelled (the server shutting down)
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        await asyncio.wait((task,))
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not warn about it
        raise ClientDisconnectedError("the client disconnected before the answer was ready")
    return task.result()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
