"""A typed client for mmstack's native API (`/api`): collections, uploads with progress,
search, jobs, keys, users and usage, sync (`Client`) and async (`AsyncClient`), on httpx.
The models are generated from the server's OpenAPI document (`models.py`). For the
OpenAI-compatible part (`/v1`), use the `openai` SDK with the same base URL and key.

    from mmstack.client import Client

    with Client("http://localhost:8000", api_key="mmk_...") as mm:
        handbook = mm.collections.create("handbook")
        files = mm.collections.upload(handbook.id, ["guide.pdf"])
        mm.collections.wait(handbook.id, [f.id for f in files])
        print(mm.search("holidays", collections=[handbook.id]).data[0].text)

It imports nothing of the server: httpx and pydantic only.
"""

from mmstack.client.aio import AsyncClient
from mmstack.client.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    MmstackError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from mmstack.client.sync import Client

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "InvalidRequestError",
    "MmstackError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
]
