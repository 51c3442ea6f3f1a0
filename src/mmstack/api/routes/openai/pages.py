"""Query parameters of OpenAI's paginated lists."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from mmstack.store.pagination import Order, PageRequest

# While a file is processed, the SDK's poll helpers wait this long between requests.
POLL_HEADER = "openai-poll-after-ms"
POLL_AFTER_MS = "250"


async def page_request(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Order = "desc",
    after: str | None = None,
    before: str | None = None,
) -> PageRequest:
    return PageRequest(limit=limit, order=order, after=after, before=before)


PageDep = Annotated[PageRequest, Depends(page_request)]
