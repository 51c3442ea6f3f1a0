"""URLs the API hands out in its responses, relative to the server's root."""

from __future__ import annotations

from urllib.parse import quote


def thumbnail_url(file_id: str, thumbnail_id: str | None) -> str | None:
    """Where an image derived from a file is served (`GET /v1/files/{id}/thumbnails/{key}`)."""
    if thumbnail_id is None:
        return None
    return f"/v1/files/{quote(file_id)}/thumbnails/{quote(thumbnail_id)}"
