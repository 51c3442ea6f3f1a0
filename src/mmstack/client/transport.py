"""What the sync and async clients share: the session's settings, how a `Call` becomes a
request, how an answer becomes its result or an error, and when to try again."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from mmstack.client.calls import Call
from mmstack.client.errors import error_of, retry_after
from mmstack.client.models import TokenOut

T = TypeVar("T")
USER_AGENT = "mmstack-python-client"
# A quota's refusal (429) and a server that is starting or shedding load (503) pass.
RETRIED = frozenset({429, 503})
LONGEST_WAIT = 30.0


class Send(Protocol):
    def __call__(self, call: Call[T]) -> T: ...


class AsyncSend(Protocol):
    def __call__(self, call: Call[T]) -> Awaitable[T]: ...


@dataclass(frozen=True, slots=True)
class Session:
    """Where the server is, and the retry policy."""

    base_url: str
    timeout: float = 60.0
    max_retries: int = 2

    @classmethod
    def of(cls, base_url: str, timeout: float, max_retries: int) -> Session:
        # The server's root; a URL of its OpenAI part (.../v1) works too.
        return cls(base_url.rstrip("/").removesuffix("/v1"), timeout, max_retries)

    def http_options(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "headers": {"User-Agent": USER_AGENT},
            "timeout": self.timeout,
        }


class Credentials:
    """What authenticates the requests: an API key, or a login's tokens (which refresh
    themselves when the access token expires: `refresh_token` is set)."""

    def __init__(self, api_key: str | None) -> None:
        self.bearer = api_key
        self.refresh_token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}

    def took(self, tokens: TokenOut) -> None:
        self.bearer = tokens.access_token
        self.refresh_token = tokens.refresh_token

    def may_refresh(self, response: httpx.Response, refreshed: bool) -> bool:
        return response.status_code == 401 and self.refresh_token is not None and not refreshed


def request_arguments(call: Call[Any], credentials: Credentials) -> dict[str, Any]:
    arguments: dict[str, Any] = {"params": call.params, "headers": credentials.headers()}
    if call.json is not None:
        arguments["json"] = call.json
    if call.files:
        arguments["files"] = call.files
        arguments["data"] = call.data
    return arguments


def wait_before_retry(response: httpx.Response, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before trying `response`'s request again; None: do not."""
    if response.status_code not in RETRIED or attempt >= max_retries:
        return None
    told = retry_after(response)
    return min(LONGEST_WAIT, told if told is not None else 0.5 * 2**attempt)


def result(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise error_of(response)
    if response.status_code == 204 or not response.content:
        return call.read(None)
    return call.read(response.json())
