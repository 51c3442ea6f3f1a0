"""One log line per request: method, route template, status, the error's code, who asked
(user and key ids, never a credential) and how long it took. Requests that fail (4xx, 5xx)
are always logged; the others when `http.access_log` is on. Every request is counted in the
metrics (`mmstack_http_*`)."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mmstack import metrics
from mmstack.config.logging import request_id_var
from mmstack.telemetry import span

log = logging.getLogger("mmstack.access")

# Enough of an error body to read its code; error bodies are small.
_ERROR_BODY_BYTES = 4096


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, *, every_request: bool) -> None:
        self.app = app
        self.every_request = every_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        body = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400:
                body.extend(message.get("body", b"")[: _ERROR_BODY_BYTES - len(body)])
            await send(message)

        with span(scope["method"], {"http.request.method": scope["method"]}) as current:
            try:
                await self.app(scope, receive, watch)
            finally:
                seconds = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", None)
                current.update_name(f"{scope['method']} {route or '(none)'}")
                current.set_attribute("http.response.status_code", status)
                if route:
                    current.set_attribute("http.route", route)
                if metrics.recording():
                    _count(scope, status, seconds)
                if status >= 400 or self.every_request:
                    _log(scope, status, bytes(body), seconds)


def _count(scope: Scope, status: int, seconds: float) -> None:
    """The request in the metrics, by its route's template (a path that matched no route
    is counted as `(none)`: paths are unbounded)."""
    route = getattr(scope.get("route"), "path", None) or "(none)"
    method = scope["method"]
    metrics.http_requests.labels(route, method, str(status)).inc()
    # The request's id as the exemplar (OpenMetrics): a slow bucket links to its log line.
    request_id = None if metrics.MULTIPROCESS else request_id_var.get()
    exemplar = {"request_id": request_id} if request_id else None
    metrics.http_duration.labels(route, method).observe(seconds, exemplar=exemplar)


def _log(scope: Scope, status: int, body: bytes, seconds: float) -> None:
    route = getattr(scope.get("route"), "path", None)
    principal = scope.get("state", {}).get("principal")
    fields: dict[str, object] = {
        "method": scope["method"],
        "route": route or "(none)",
        "status": status,
        "ms": round(seconds * 1000, 1),
    }
    if route is None:  # nothing matched: the path asked for, cut short
        fields["path"] = scope["path"][:200]
    if code := _error_code(body):
        fields["error"] = code
    if principal is not None:
        fields["user_id"] = principal.user_id
        if principal.key_id:
            fields["key_id"] = principal.key_id
    level = logging.ERROR if status >= 500 else logging.INFO
    log.log(level, "request", extra=fields)


def _error_code(body: bytes) -> str | None:
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
