"""Files only their owner may read, created once even when several processes start
together on a new data directory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def create_private_once(path: Path, data: bytes) -> bytes:
    """Write `data` to `path` (0600) unless it exists, and return what `path` holds.

    The content is written to a temporary file and linked into place, so a process that
    loses the race reads the winner's complete file, never an empty or half-written one.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()
        return data
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
