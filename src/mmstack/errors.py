"""Errors shared by every layer.

`MMStackError` carries a message meant for the person who caused it (an API client or a CLI
user) and a machine-readable `code`; the API maps each subclass to an HTTP status and
OpenAI's error shape, the CLI prints the message and exits non-zero.
"""


class MMStackError(Exception):
    code = "internal_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class NotFoundError(MMStackError):
    code = "not_found"


class InvalidRequestError(MMStackError):
    code = "invalid_request"


class ConflictError(MMStackError):
    code = "conflict"


class IngestError(MMStackError):
    """A file cannot be ingested: its reason is stored on the file and shown to the user."""

    code = "ingest_failed"


class AuthenticationError(MMStackError):
    """No credentials, or credentials that are wrong, expired or revoked (HTTP 401)."""

    code = "invalid_authentication"


class PermissionDeniedError(MMStackError):
    """Who is asking is known, and may not do this (HTTP 403)."""

    code = "permission_denied"


class RateLimitError(MMStackError):
    """A quota or rate limit is used up (HTTP 429); `retry_after` says for how long."""

    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after
