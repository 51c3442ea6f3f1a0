"""Blob storage, content-addressed by sha256. `LocalBlobStore` is the embedded default;
`blobs_s3.S3BlobStore` implements the same protocol for scale-out deployments."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Protocol

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


READ_BLOCK = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store `data` and return its sha256; storing the same bytes twice is a no-op."""

    def put_file(self, path: Path) -> str:
        """Store the file's bytes, read in blocks, and return their sha256."""

    def get(self, sha256: str) -> bytes:
        """The bytes stored under `sha256`; KeyError if absent."""

    def open(self, sha256: str) -> IO[bytes]:
        """A stream of the blob's bytes, for callers that must not hold it whole; KeyError
        if absent. The caller closes it."""

    def read_range(self, sha256: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from offset `start`; KeyError if absent."""

    def size(self, sha256: str) -> int:
        """The blob's length in bytes; KeyError if absent."""

    def exists(self, sha256: str) -> bool: ...

    def local_path(self, sha256: str) -> Path:
        """A local file holding the blob, for readers that stream from disk (media
        decoders); KeyError if absent. Read-only: never write to it."""

    def delete(self, sha256: str) -> None:
        """Remove the blob; absent blobs are ignored."""

    def written_before(self, cutoff: float) -> Iterator[str]:
        """The digests of the blobs last written before `cutoff` (a Unix time); the
        leftovers of writes that never finished, older than that, are removed on the way."""

    def digests(self) -> Iterator[str]:
        """The digest of every stored blob, touching nothing (writes in progress go on)."""

    def check(self) -> None:
        """Raise an error naming why the store cannot be written now."""


class LocalBlobStore:
    """Files at ROOT/ab/cd/<sha256>, written atomically (temp file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if not SHA256_PATTERN.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        self._write(digest, lambda handle: handle.write(data))
        return digest

    def put_file(self, path: Path) -> str:
        digest = file_sha256(path)

        def copy(handle: IO[bytes]) -> None:
            with path.open("rb") as source:
                shutil.copyfileobj(source, handle, READ_BLOCK)

        self._write(digest, copy)
        return digest

    def _write(self, digest: str, write: Callable[[IO[bytes]], object]) -> None:
        path = self._path(digest)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes:
        with self.open(sha256) as handle:
            return handle.read()

    def open(self, sha256: str) -> IO[bytes]:
        try:
            return self._path(sha256).open("rb")
        except FileNotFoundError:
            raise KeyError(sha256) from None

    def read_range(self, sha256: str, start: int, length: int) -> bytes:
        if start < 0 or length < 1:
            raise ValueError("a range starts at 0 or later and holds at least one byte")
        with self.open(sha256) as handle:
            handle.seek(start)
            return handle.read(length)

    def size(self, sha256: str) -> int:
        try:
            return self._path(sha256).stat().st_size
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

    def adopt(self, path: Path, sha256: str) -> None:
        """Move a file the caller has checked holds `sha256`'s bytes into the store (a
        restore's verified copy): a rename on the same file system, else a copy."""
        target = self._path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:
            self.put_file(path)

    def check(self) -> None:
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError(f"the blob folder {self.root} is not writable")

    def digests(self) -> Iterator[str]:
        for path in self.root.glob("*/*/*"):
            if SHA256_PATTERN.match(path.name):
                yield path.name

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
            elif SHA256_PATTERN.match(path.name):
                yield path.name
