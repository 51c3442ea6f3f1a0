"""Files to upload, read as they are sent: each file is opened when its request goes out
(never read whole into memory) and every chunk read reports the bytes sent so far."""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

Progress = Callable[[int, int], None]  # (bytes sent, bytes in all)
UploadSource = str | os.PathLike[str] | tuple[str, bytes | IO[bytes]]


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to send: a path (opened and closed here) or the caller's stream (left open)."""

    filename: str
    size: int
    path: Path | None = None
    stream: IO[bytes] | None = None


def uploads_of(sources: Sequence[UploadSource]) -> list[Upload]:
    """Paths, or (filename, bytes or binary file) pairs, as uploads with their sizes."""
    found = []
    for source in sources:
        if isinstance(source, tuple):
            name, content = source
            stream = io.BytesIO(content) if isinstance(content, bytes) else content
            found.append(Upload(name, _size_of(stream), stream=stream))
        else:
            path = Path(source)
            found.append(Upload(path.name, path.stat().st_size, path=path))
    return found


def _size_of(stream: IO[bytes]) -> int:
    here = stream.tell()
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(here)
    return size


class Counter:
    """Bytes read across the files of one upload, told to `progress` as they are read."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.sent = 0
        self._progress = progress

    def add(self, count: int) -> None:
        self.sent += count
        if self._progress is not None and count:
            self._progress(self.sent, self.total)


class CountingReader:
    """A binary file that counts what is read from it (httpx reads a multipart file part in
    64 KiB chunks); read again from the start (a retried request), it counts again from
    where that file began."""

    def __init__(self, raw: IO[bytes], counter: Counter) -> None:
        self._raw = raw
        self._counter = counter
        self._read_here = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._read_here += len(chunk)
        self._counter.add(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset == 0 and whence == io.SEEK_SET and self._read_here:
            self._counter.add(-self._read_here)
            self._read_here = 0
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def fileno(self) -> int:
        return self._raw.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@contextmanager
def opened(batch: Sequence[Upload], counter: Counter) -> Iterator[list[tuple[str, Any]]]:
    """The multipart `files` of one request, each file open while the request is sent."""
    with ExitStack() as files:
        parts = []
        for upload in batch:
            if upload.path is not None:
                raw: IO[bytes] = files.enter_context(upload.path.open("rb"))
            else:
                assert upload.stream is not None
                raw = upload.stream
            media_type = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
            parts.append(("files", (upload.filename, CountingReader(raw, counter), media_type)))
        yield parts


def batches(uploads: Sequence[Upload], per_request: int) -> Iterator[list[Upload]]:
    for start in range(0, len(uploads), per_request):
        yield list(uploads[start : start + per_request])
