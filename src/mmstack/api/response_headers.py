"""Headers on every response that keep a browser from misusing it: no content sniffing,
no framing, no scripts or loads from elsewhere in what the API returns, no referrer, and
no caching (responses carry tokens, keys and a team's text) unless a route says so."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API documentation page runs Swagger UI's script and styles from this server.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_PATHS = ("/docs", "/redoc")
# The console runs only its own modules and styles; files it previews are fetched with the
# login's token and shown from blob: URLs.
CONSOLE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; manifest-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
CONSOLE_PATHS = ("/console/",)
# A citation link's page: the console's policy (its stylesheet, pictures, the recording).
CITATION_PATHS = ("/cite/",)


class ResponseHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):  # mounted under a path prefix
            path = path[len(root) :] or "/"
        console = path == "/" or path.startswith(CONSOLE_PATHS)
        if console or path.startswith(CITATION_PATHS):
            policy = CONSOLE_POLICY
        elif path.startswith(DOCS_PATHS):
            policy = DOCS_POLICY
        else:
            policy = API_POLICY
        # The console's files are revalidated (ETag), not fetched anew at every load.
        caching = "no-cache" if console else "no-store"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("content-security-policy", policy)
                headers.setdefault("referrer-policy", "no-referrer")
                headers.setdefault("cache-control", caching)
            await send(message)

        await self.app(scope, receive, send_with_headers)
