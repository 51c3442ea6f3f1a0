"""Audit of every deletion and every request refused for want of permission, with who
asked, from where and how it ended. A deletion whose service records its own event (a key
revocation) has both: the service's says what, this one that the request was made.

Only requests made by someone signed in are recorded: one without credentials (or with
bad ones) changed nothing, and recording it would let anyone grow the append-only log
without limit. Failed logins are the login service's to record."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mmstack.auth.audit import Actor, AuditLog, Result
from mmstack.auth.principal import Principal


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            signed_in = scope.get("state", {}).get("principal") is not None
            if signed_in and (scope["method"] == "DELETE" or status == 403):
                await run_in_threadpool(_record, scope, status)


def _record(scope: Scope, status: int) -> None:
    stack = getattr(scope["app"].state, "stack", None)
    if stack is None:
        return
    audit: AuditLog = stack.auth.audit
    principal: Principal = scope["state"]["principal"]
    client = scope.get("client")
    address = client[0] if client else None
    actor = Actor(principal.user_id, principal.key_id, principal.team_id, address)
    result: Result
    if status == 403:
        action, result = "access.denied", "denied"
    else:
        action, result = "http.delete", "success" if status < 400 else "failure"
    audit.record(
        action,
        actor,
        result=result,
        # As sent: a NUL character (%00) is no text PostgreSQL stores.
        target=scope["path"].replace("\x00", "%00")[:256],
        detail={"method": scope["method"], "status": status},
    )
