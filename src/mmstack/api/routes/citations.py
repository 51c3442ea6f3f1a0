"""`/cite/{token}`: the page a citation's link opens (see `api.citation_links`). No login:
the signed token is the permission, for one cited place of one team, until it expires.
The page is plain HTML built here, with no script; the quoted lines of a PDF page are
outlined in an SVG over the page's picture."""

from __future__ import annotations

import base64
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse

from mmstack.answer.types import clock
from mmstack.api.citation_links import CitedPlace, cited_place
from mmstack.api.deps import stack_of
from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.ingest.parsers.pdf_pages import PageImage
from mmstack.media_types import APPLICATION_PDF
from mmstack.stack import Stack
from mmstack.store.ownership import Owner

router = APIRouter(prefix="/cite", include_in_schema=False)

CONTEXT_CHARS = 500


def _place(token: str, request: Request) -> CitedPlace:
    return cited_place(stack_of(request).auth.links, token)


PlaceDep = Annotated[CitedPlace, Depends(_place)]


@router.get("/{token}", response_class=HTMLResponse)
def citation_page(token: str, request: Request) -> HTMLResponse:
    """The cited place; an expired or forged link, or a file deleted since, is a 404 page
    that says so."""
    try:
        return HTMLResponse(_page(token, _place(token, request), stack_of(request)))
    except NotFoundError as exc:
        message = exc.message[:1].upper() + exc.message[1:] + "."
        page = _document(
            "Citation not available", "This citation cannot be shown", f"<p>{escape(message)}</p>"
        )
        return HTMLResponse(page, status_code=404)


def _page(token: str, place: CitedPlace, stack: Stack) -> str:
    owner = Owner(team_id=place.team_id)
    collections = stack.collections.for_owner(owner)
    collection = collections.row(place.collection_id)
    member = collections.file(place.collection_id, place.file_id)
    stored = member.file
    text = collections.file_text(place.collection_id, place.file_id)
    quote = text[place.quote_start : place.quote_end]
    before = text[max(0, place.quote_start - CONTEXT_CHARS) : place.quote_start]
    after = text[place.quote_end : place.quote_end + CONTEXT_CHARS]
    where = []
    if place.page is not None:
        where.append(f"page {place.page}")
    if place.seconds is not None:
        where.append(f"at {clock(place.seconds)}")
    shown = ""
    if place.page is not None and stored.media_type == APPLICATION_PDF:
        try:
            image = stack.previews.for_owner(owner).page(
                place.collection_id, place.file_id, place.page, quote=quote
            )
            shown = _page_picture(image, place.page)
        except (InvalidRequestError, NotFoundError):
            shown = ""
    elif stored.media_type.startswith(("audio/", "video/")):
        tag = "video" if stored.media_type.startswith("video/") else "audio"
        start = f"#t={place.seconds}" if place.seconds is not None else ""
        shown = f'<{tag} controls preload="metadata" src="{escape(token)}/media{start}"></{tag}>'
    elif stored.media_type.startswith("image/"):
        shown = _picture(token, stored.filename, stored.media_info or {}, place.region)
    title = f"{stored.filename}" + (f", {', '.join(where)}" if where else "")
    body = _PLACE.format(
        collection=escape(collection.name),
        where=escape(", ".join(where)) or "the passage",
        before=escape(("…" if len(before) == CONTEXT_CHARS else "") + before),
        quote=escape(quote),
        after=escape(after + ("…" if len(after) == CONTEXT_CHARS else "")),
        shown=shown,
        console=f"../#/collection/{escape(place.collection_id)}",
    )
    return _document(escape(title), escape(stored.filename), body)


@router.get("/{token}/media", response_class=FileResponse)
def citation_media(place: PlaceDep, request: Request) -> FileResponse:
    """The cited recording or picture itself (range requests served, so a player seeks)."""
    stack: Stack = stack_of(request)
    member = stack.collections.for_owner(Owner(team_id=place.team_id)).file(
        place.collection_id, place.file_id
    )
    stored = member.file
    if not stored.media_type.startswith(("audio/", "video/", "image/")):
        raise NotFoundError("this citation has no recording or picture to show")
    return FileResponse(stack.blobs.local_path(stored.sha256), media_type=stored.media_type)


def _picture(
    token: str, filename: str, info: dict[str, Any], region: tuple[int, int, int, int] | None
) -> str:
    """The picture, with the box the quote was read from outlined when it is known."""
    source = f"{escape(token)}/media"
    width, height = info.get("width"), info.get("height")
    if region is None or not isinstance(width, int) or not isinstance(height, int):
        return f'<img class="picture" src="{source}" alt="{escape(filename)}">'
    left, top, right, bottom = region
    return (
        f'<svg class="page" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(filename)}, the quoted text outlined">'
        f'<image href="{source}" width="{width}" height="{height}"/>'
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/></svg>'
    )


def _page_picture(image: PageImage, number: int) -> str:
    data = base64.b64encode(image.png).decode("ascii")
    width, height = image.width, image.height
    boxes = "".join(
        f'<rect x="{left * width:.1f}" y="{top * height:.1f}" '
        f'width="{(right - left) * width:.1f}" height="{(bottom - top) * height:.1f}"/>'
        for left, top, right, bottom in image.boxes
    )
    return (
        f'<svg class="page" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Page {number}, the quoted lines outlined">'
        f'<image href="data:image/png;base64,{data}" width="{width}" height="{height}"/>'
        f"{boxes}</svg>"
    )


def _document(title: str, heading: str, body: str) -> str:
    """A whole page; `title`, `heading` and `body` are HTML already escaped."""
    return _DOCUMENT.format(title=title, heading=heading, body=body)


_DOCUMENT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · mmstack</title>
<link rel="stylesheet" href="../console/cite.css">
</head>
<body>
<main>
<p class="brand">mmstack · cited source</p>
<h1>{heading}</h1>
{body}
</main>
</body>
</html>
"""

_PLACE = """<p class="where">In <strong>{collection}</strong>, {where}</p>
<blockquote><p>{before}<mark>{quote}</mark>{after}</p></blockquote>
{shown}
<p class="more"><a href="{console}">Open the collection in the console</a> (sign-in needed)</p>"""
