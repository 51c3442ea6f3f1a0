"""Errors of the LLM layer. Each carries the HTTP status the API answers with
(`status_code`) and OpenAI's error `code`; client mistakes subclass `InvalidRequestError` or
`NotFoundError`, so they map like every other client mistake."""

from __future__ import annotations

from typing import ClassVar

from mmstack.errors import InvalidRequestError, MMStackError, NotFoundError
from mmstack.models.registry import ModelUnavailableError


class UnknownModelError(NotFoundError):
    """The requested model is neither served nor an alias."""

    code = "model_not_found"
    status_code: ClassVar[int] = 404

    def __init__(self, model: str, known: list[str]) -> None:
        listed = ", ".join(known) or "none"
        super().__init__(
            f"The model '{model}' does not exist or is not served here (available: {listed})",
            param="model",
        )


class ToolsTooLargeError(InvalidRequestError):
    code = "tools_too_large"
    status_code: ClassVar[int] = 400

    def __init__(self, model: str, count: int, tokens: int, limit: int) -> None:
        super().__init__(
            f"The request's {count} tool schemas take {tokens} tokens; model '{model}' takes "
            f"at most {limit} (llm.embedded.max_tool_tokens): on this server's CPU they would "
            "take minutes to read before the first word. Send fewer tools (a chat client's "
            "built-in tools can be turned off per model), or have the server drop them "
            "(llm.embedded.tool_overflow = 'drop').",
            param="tools",
        )


class ContextLengthExceededError(InvalidRequestError):
    code = "context_length_exceeded"
    status_code: ClassVar[int] = 400

    def __init__(
        self,
        prompt_tokens: int | None,
        context_window: int | None,
        model: str,
        *,
        detail: str | None = None,
    ) -> None:
        if detail is None and prompt_tokens is not None and context_window is not None:
            detail = f"{prompt_tokens} prompt tokens; the context window is {context_window}"
        detail = detail or "the prompt does not fit the context window"
        super().__init__(
            f"This model's maximum context length was exceeded ({detail}, model '{model}'). "
            "Shorten the messages.",
            param="messages",
        )
        self.prompt_tokens = prompt_tokens
        self.context_window = context_window


class ImageInputNotSupportedError(InvalidRequestError):
    code = "image_input_not_supported"
    status_code: ClassVar[int] = 400

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model '{model}' does not accept image content parts (no vision model is "
            "configured for it); send text only or use a vision-capable upstream model",
            param="messages",
        )


class BackendRejectedError(InvalidRequestError):
    """The backend refused the request as invalid (a 4xx that is the client's doing)."""

    status_code: ClassVar[int] = 400

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message, param=param)
        if code:
            self.code = code


class BackendUnavailableError(ModelUnavailableError):
    """The backend could not be reached, or stayed overloaded (429/5xx) through retries."""

    code = "backend_unavailable"
    status_code: ClassVar[int] = 503


class BackendTimeoutError(MMStackError):
    code = "backend_timeout"
    status_code: ClassVar[int] = 504


class BackendResponseError(MMStackError):
    """The backend answered with something that is not a valid completion (502)."""

    code = "bad_backend_response"
    status_code: ClassVar[int] = 502


class BackendFailedError(MMStackError):
    """The embedded model failed while answering."""

    code = "backend_error"
    status_code: ClassVar[int] = 500


# Failures of a backend rather than of the request: the router tries the next backend.
FALLBACK_ERRORS: tuple[type[MMStackError], ...] = (
    ModelUnavailableError,
    BackendTimeoutError,
    BackendResponseError,
    BackendFailedError,
)
