"""Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import logging
import math
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mmstack.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    MMStackError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from mmstack.knowledge.uploads import FileTooLargeError
from mmstack.models.registry import ModelUnavailableError

log = logging.getLogger(__name__)

_STATUS: dict[type[MMStackError], tuple[int, str]] = {
    FileTooLargeError: (413, "invalid_request_error"),
    NotFoundError: (404, "invalid_request_error"),
    InvalidRequestError: (400, "invalid_request_error"),
    ConflictError: (409, "invalid_request_error"),
    AuthenticationError: (401, "invalid_request_error"),
    PermissionDeniedError: (403, "invalid_request_error"),
    RateLimitError: (429, "requests"),
    ModelUnavailableError: (503, "server_error"),
}


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _status_for(exc: MMStackError) -> tuple[int, str]:
    # An error that knows its HTTP status (the LLM layer's: 404, 400, 502, 503, 504) says so.
    status = getattr(type(exc), "status_code", None)
    if isinstance(status, int):
        return status, "invalid_request_error" if status < 500 else "server_error"
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500, "server_error"


def error_response(exc: Exception) -> tuple[int, dict[str, object]]:
    """The HTTP status and OpenAI-shaped body for any exception; an unexpected one is
    logged with its stack trace and described to the client only as an internal error."""
    if isinstance(exc, MMStackError):
        status, type_ = _status_for(exc)
        if status >= 500:
            log.warning("request failed", extra={"status": status, "error": exc.code})
        return status, error_body(exc.message, type_, param=exc.param, code=exc.code)
    if isinstance(exc, DataError):
        # A value the database cannot hold or compare: a NUL character in text (PostgreSQL),
        # a number past an integer column's range. The request's, since it is validated
        # everywhere else; logged in case it is not.
        log.warning("the database refused a value", exc_info=exc)
        message = (
            "the request holds a value the database cannot take "
            "(a NUL character, or a number out of range)"
        )
        return 400, error_body(message, "invalid_request_error", code="invalid_value")
    if isinstance(exc, UnicodeError):
        # Text with a lone surrogate that came in some way other than a JSON body (which
        # `RequestLimitsMiddleware` checks before the app sees it).
        log.warning("text that is not valid Unicode", exc_info=exc)
        message = "the request holds text that is not valid Unicode (a lone surrogate)"
        return 400, error_body(message, "invalid_request_error", code="invalid_text")
    log.error("unhandled error", exc_info=exc)
    return 500, error_body("internal server error", "server_error")


def error_headers(exc: Exception) -> dict[str, str]:
    """The headers an error response needs: how to authenticate, when to come back."""
    if isinstance(exc, AuthenticationError):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimitError):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return {}


async def _mmstack_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MMStackError)
    status, body = error_response(exc)
    return JSONResponse(body, status, headers=error_headers(exc))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "")
        message = f"the request body is not valid JSON ({reason})" if reason else "invalid JSON"
        return JSONResponse(error_body(message, "invalid_request_error", code="invalid_json"), 400)
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(location) or None
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    if param:
        message = f"{param}: {message}"
    return JSONResponse(
        error_body(message, "invalid_request_error", param=param, code="invalid_request"), 400
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_methods_of_path(request))
    return JSONResponse(error_body(str(exc.detail), type_), exc.status_code, headers=headers)


def _methods_of_path(request: Request) -> list[str]:
    """Every method the API documents at this path (Starlette names only the first
    route's, and one path often has a route per method)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods.update(m.upper() for m in operations)
    return sorted(methods)


async def _request_value_error(_request: Request, exc: Exception) -> JSONResponse:
    """A value of the request the database or Python's text cannot take (`error_response`)."""
    status, body = error_response(exc)
    return JSONResponse(body, status)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})
    return JSONResponse(error_body("internal server error", "server_error"), 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MMStackError, _mmstack_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _request_value_error)
    app.add_exception_handler(UnicodeError, _request_value_error)
    app.add_exception_handler(Exception, _unexpected_error)
