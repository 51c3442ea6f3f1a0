"""The web console: one page at `/` and its assets under `/console/`, all shipped in the
package (no CDN, no build step: ES modules and a vendored Preact + htm). The page is a
client of the same API as every other client, with the same bearer tokens, so roles, team
scoping and the server's refusals are the API's own. Every URL it uses is relative to the
page, so it works under a path prefix."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from mmstack import __version__
from mmstack.api.deps import ServedModelsDep, SettingsDep, authorize

ASSETS_DIR = Path(__file__).resolve().parent.parent / "console"
ASSETS_PATH = "/console"

page = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/api", tags=["console"], dependencies=[Depends(authorize(None))])


@page.api_route("/", methods=["GET", "HEAD"])
def console_page() -> HTMLResponse:
    return HTMLResponse(_page_html())


@cache
def _page_html() -> str:
    """index.html, with every module of the console preloaded: the browser fetches them at
    once instead of each when the module importing it has been read."""
    html = (ASSETS_DIR / "index.html").read_text()
    modules = sorted(p.relative_to(ASSETS_DIR).as_posix() for p in ASSETS_DIR.rglob("*.js"))
    links = "".join(f'  <link rel="modulepreload" href="console/{m}">\n' for m in modules)
    entry = '  <script type="module"'
    return html.replace(entry, links + entry, 1)


def console_assets() -> StaticFiles:
    return StaticFiles(directory=ASSETS_DIR, follow_symlink=False)


class ServerInfo(BaseModel):
    object: Literal["server.info"] = "server.info"
    version: str
    chat_models: list[str]
    answer_model: str
    max_file_bytes: int
    max_upload_bytes: int
    access_token_minutes: int


@router.get("/info")
def server_info(settings: SettingsDep, models: ServedModelsDep) -> ServerInfo:
    """What a client shows before it asks anything: the chat models, the model grounded
    answers use, and the upload limits."""
    return ServerInfo(
        version=__version__,
        chat_models=[m.id for m in models.list() if m.kind == "chat"],
        answer_model=settings.answer.model or settings.llm.default_model,
        max_file_bytes=settings.ingest.max_file_bytes,
        max_upload_bytes=settings.http.max_upload_bytes,
        access_token_minutes=settings.auth.access_token_minutes,
    )
