"""`/mcp`: mmstack's MCP server (`mmstack.tools.mcp_server`) over streamable HTTP, for the
caller of each request's API key or access token, with that key's scopes and team.

Stateless, with JSON responses: each request stands alone, so any API replica answers
any request and nothing is kept between them. The SDK's own Host-header check is off: the
server answers on whatever name its deployment gives it, and every request needs a key."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mmstack.api.deps import current_principal, stack_of
from mmstack.tools.mcp_server import build_server, current_toolbox
from mmstack.tools.toolbox import Toolbox

PATH = "/mcp"
METHODS = ["GET", "POST", "DELETE"]


def start_mcp(app: FastAPI) -> AbstractAsyncContextManager[None]:
    """A new MCP server for this run of the app; what the app's lifespan must run it in."""
    server = build_server()
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app.state.mcp = StreamableHTTPASGIApp(server.session_manager)
    return server.session_manager.run()


class McpEndpoint:
    """Authenticates the request (401, 403 and 429 in the API's error shape), then hands it
    to the MCP server with the caller's toolbox."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        principal = await current_principal(request)
        token = current_toolbox.set(Toolbox(stack_of(request), principal))
        try:
            await request.app.state.mcp(scope, receive, send)
        finally:
            current_toolbox.reset(token)


def install_mcp(app: FastAPI) -> None:
    app.router.routes.append(Route(PATH, McpEndpoint(), methods=METHODS, include_in_schema=False))
