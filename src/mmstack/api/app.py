"""The FastAPI application. Everything it uses is opened in its lifespan from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mmstack import __version__
from mmstack.api.audit_middleware import AuditMiddleware
from mmstack.api.errors import install_error_handlers
from mmstack.api.middleware import RequestIdMiddleware
from mmstack.api.routes import admin, auth, collections, health, jobs, keys, openai, search, usage
from mmstack.config.settings import Settings
from mmstack.stack import open_stack


def create_app(settings: Settings, *, start_workers: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_stack(settings, start_workers=start_workers) as stack:
            app.state.stack = stack
            stack.search.warm_in_background()
            try:
                yield
            finally:
                # Upstream clients belong to this event loop: close them on it.
                await stack.llm.aclose()

    app = FastAPI(
        title="mmstack",
        version=__version__,
        summary="Self-hosted multimodal LLM stack: ingest, search and answer over your files.",
        lifespan=lifespan,
    )
    app.add_middleware(AuditMiddleware)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    for module in (health, auth, keys, admin, usage, collections, search, jobs):
        app.include_router(module.router)
    for router in openai.ROUTERS:
        app.include_router(router)
    return app
