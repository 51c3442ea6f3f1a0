"""What a failed request raises: `MmstackError` with the server's message, its HTTP status
and OpenAI-shaped `code`, `type` and `param`; a subclass per kind of failure a caller may
want to catch on its own."""

from __future__ import annotations

from typing import Any

import httpx


class MmstackError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.param = param

    def __str__(self) -> str:
        where = f" ({self.param})" if self.param else ""
        return f"{self.status} {self.code or self.type or 'error'}: {self.message}{where}"


class InvalidRequestError(MmstackError):
    """400: the request itself is wrong (the message says what)."""


class AuthenticationError(MmstackError):
    """401: no credentials, or they are not valid (any more)."""


class PermissionDeniedError(MmstackError):
    """403: the key or user may not do this."""


class NotFoundError(MmstackError):
    """404: not there, or not the caller's team's."""


class ConflictError(MmstackError):
    """409: the name is taken, or the thing is in a state that forbids it."""


class RateLimitError(MmstackError):
    """429: a quota is used up; `retry_after` seconds until it may be tried again."""

    retry_after: float | None = None


class ServerError(MmstackError):
    """5xx: the server or a backend it relies on failed."""


_BY_STATUS: dict[int, type[MmstackError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_of(response: httpx.Response) -> MmstackError:
    """The error a failed response stands for."""
    try:
        detail: Any = response.json().get("error") or {}
    except (ValueError, AttributeError):
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    kind = _BY_STATUS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else MmstackError
    error = kind(
        str(detail.get("message") or response.reason_phrase or "request failed"),
        status=response.status_code,
        code=detail.get("code"),
        type=detail.get("type"),
        param=detail.get("param"),
    )
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after(response)
    return error


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
