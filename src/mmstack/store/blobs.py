"""Blob storage, content-addressed by sha256. `LocalBlobStore` is the embedded default; an
S3 adapter implements the same protocol for scale-out deployments."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store `data` and return its sha256; storing the same bytes twice is a no-op."""

    def get(self, sha256: str) -> bytes:
        """The bytes stored under `sha256`; KeyError if absent."""

    def exists(self, sha256: str) -> bool: ...

    def local_path(self, sha256: str) -> Path:
        """A local file holding the blob, for readers that stream from disk (media
        decoders); KeyError if absent. Read-only: never write to it."""

    def delete(self, sha256: str) -> None:
        """Remove the blob; absent blobs are ignored."""

    def written_before(self, cutoff: float) -> Iterator[str]:
        """The digests of the blobs last written before `cutoff` (a Unix time); the
        leftovers of writes that never finished, older than that, are removed on the way."""


class LocalBlobStore:
    """Files at ROOT/ab/cd/<sha256>, written atomically (temp file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256) from None

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def local_path(self, sha256: str) -> Path:
        path = self._path(sha256)
        if not path.is_file():
            raise KeyError(sha256)
        return path

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def written_before(self, cutoff: float) -> Iterator[str]:
        for path in self.root.glob("*/*/*"):
            try:
                written = path.stat().st_mtime
            except FileNotFoundError:
                continue  # deleted meanwhile
            if written >= cutoff:
                continue
            if path.name.startswith(".tmp-"):
                path.unlink(missing_ok=True)
            elif _SHA256.match(path.name):
                yield path.name
