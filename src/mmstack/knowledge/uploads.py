"""What an uploaded file must be: a usable name, and a size within the limit."""

from __future__ import annotations

import posixpath

from mmstack.errors import InvalidRequestError


class FileTooLargeError(InvalidRequestError):
    code = "file_too_large"


def size_limit_message(size: int, limit: int) -> str:
    return f"file is {size:,} bytes, over the limit of {limit:,} bytes (ingest.max_file_bytes)"


def safe_filename(name: str) -> str:
    """The last path component of an uploaded name, without directories or control chars."""
    base = posixpath.basename(name.replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable())
    if base in ("", ".", ".."):
        raise InvalidRequestError(f"invalid file name {name!r}", param="filename")
    return base[:255]
