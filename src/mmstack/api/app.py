"""The FastAPI application. Everything it uses is opened in its lifespan from settings."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import uvicorn
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from mmstack import __version__, metrics, telemetry
from mmstack.api.access_log import AccessLogMiddleware
from mmstack.api.audit_middleware import AuditMiddleware
from mmstack.api.errors import install_error_handlers
from mmstack.api.mcp_endpoint import install_mcp, start_mcp
from mmstack.api.middleware import RequestIdMiddleware
from mmstack.api.openapi import install_openapi
from mmstack.api.request_limits import RequestLimitsMiddleware
from mmstack.api.response_headers import ResponseHeadersMiddleware
from mmstack.api.routes import (
    admin,
    agents,
    auth,
    citations,
    collections,
    console,
    conversations,
    health,
    jobs,
    keys,
    memories,
    openai,
    prometheus,
    search,
    stats,
    usage,
)
from mmstack.config.settings import Settings, load_settings
from mmstack.errors import InvalidRequestError
from mmstack.stack import open_stack


def create_app(settings: Settings, *, start_workers: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop_telemetry = telemetry.start(settings.telemetry, "api")
        with open_stack(settings, start_workers=start_workers) as stack:
            app.state.stack = stack
            metrics.build_info.labels(__version__).set(1)
            metrics.set_recording(settings.metrics.enabled)
            app.state.upload_reads = anyio.Semaphore(settings.http.upload_reads)
            app.state.transcriptions = anyio.Semaphore(settings.http.transcriptions_at_once)
            stack.warm_in_background()
            try:
                async with start_mcp(app):
                    yield
            finally:
                # Upstream clients belong to this event loop: close them on it.
                await stack.llm.aclose()
                stop_telemetry()

    # The API docs pages load Swagger UI and ReDoc from this server (packaged), not a CDN.
    app = FastAPIOffline(
        static_url="/docs-assets",
        title="mmstack",
        version=__version__,
        summary="Self-hosted multimodal LLM stack: ingest, search and answer over your files.",
        lifespan=lifespan,
    )
    # The last added runs first.
    app.add_middleware(AuditMiddleware)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.http.max_body_bytes,
        max_upload_bytes=max(
            settings.http.max_upload_bytes, settings.ingest.max_file_bytes + 1024 * 1024
        ),
        body_idle_seconds=settings.http.body_idle_seconds,
    )
    app.add_middleware(AccessLogMiddleware, every_request=settings.http.access_log)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ResponseHeadersMiddleware)
    if settings.http.trusted_proxies:
        # Only these peers' X-Forwarded-For names the client (the login limits and the audit
        # log go by it); the server itself is run with proxy headers off (`server_config`).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.http.trusted_proxies)
    install_error_handlers(app)
    install_openapi(app)
    install_mcp(app)
    for module in (
        health,
        prometheus,
        auth,
        keys,
        admin,
        usage,
        stats,
        collections,
        search,
        jobs,
        conversations,
        agents,
        memories,
        console,
        citations,
    ):
        app.include_router(module.router)
    app.include_router(memories.whole)
    for router in openai.ROUTERS:
        app.include_router(router)
    app.include_router(console.page)
    app.mount(console.ASSETS_PATH, console.console_assets(), name="console")
    return app


def app_from_environment() -> FastAPI:
    """The app each server process of `mmstack up --workers N` builds, from the settings
    the command put in the environment."""
    return create_app(load_settings())


def serve_processes(settings: Settings, processes: int, *, config_file: Path | None) -> None:
    """`processes` server processes on one port (uvicorn's supervisor), each building the
    app from the settings put in its environment here; their metrics meet in a fresh folder
    (PROMETHEUS_MULTIPROC_DIR) and `/metrics` sums them. Only the scale-out shape: the
    embedded vector index is one process's."""
    if settings.vector.backend == "edge":
        raise InvalidRequestError(
            "several server processes need a Qdrant server (vector.backend = qdrant): the "
            "embedded vector index is one process's"
        )
    shared = settings.data_dir / "prometheus-multiproc"
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    os.environ["MMSTACK_DATA_DIR"] = str(settings.data_dir)
    if config_file is not None:
        os.environ["MMSTACK_CONFIG_FILE"] = str(config_file)
    uvicorn.run(
        f"{__name__}:app_from_environment",
        factory=True,
        workers=processes,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,
        log_config=None,
        access_log=False,
    )


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """How uvicorn serves the app: proxy headers are the app's to judge (only from
    `http.trusted_proxies`); uvicorn's own default believes any local peer."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,
        log_config=None,
        access_log=False,
    )
