"""Untrusted files decoded in a helper process that can be stopped: with a time budget (the
helper is killed past it) and a memory budget (its address space is capped), so one
hostile file cannot hold a worker for minutes or take its memory, whatever weakness in a
parser or a decoding library (PDFium, Pillow, PyAV) it finds next.

Each thread that parses has a helper of its own, started on first use (a Python that
imports what it is asked to run, about half a second) and kept for the next files; one that
ran out of time or memory is replaced. Requests and answers are pickles over its stdin and
stdout; pixels and samples travel as raw buffers beside them, not copied into the pickle.

A document is parsed there whole. A PDF or a recording is decoded there a step at a time
(a page, the next keyframe, a window of sound) while the models (OCR, Whisper) read each
step here: they are bounded by the pixels and seconds they are given.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from mmstack.errors import IngestError
from mmstack.media.decoder import Decoder, P, R, T

from .context import Isolation
from .limits import format_bytes

_POLL_SECONDS = 1.0
_HEADER = struct.Struct("!QI")  # pickle size, number of raw buffers
_SIZE = struct.Struct("!Q")
_local = threading.local()


class IsolatedDecoder(Decoder):
    """Runs decoding functions in this thread's helper, within `isolation`'s budgets for a
    file of `size` bytes: its memory, and its time for all the answers together.

    `waiting` is called about once a second while the helper works (to keep a job's lease).
    """

    def __init__(self, isolation: Isolation, size: int, *, waiting: Callable[[], None]) -> None:
        self._isolation = isolation
        self._seconds = isolation.seconds_for(size)
        self._waiting = waiting
        self._spent = 0.0

    def call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = self._ask(("call", function, args, kwargs))
        return result

    def iterate(
        self, function: Callable[P, Iterator[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Iterator[T]:
        return self._items(function, args, kwargs)

    def _items(
        self, function: Callable[..., Iterator[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[T]:
        token = self._ask(("iterate", function, args, kwargs))
        while True:
            more, item = self._ask(("next", token))
            if not more:
                return
            yield item

    def _ask(self, request: tuple[Any, ...]) -> Any:
        isolation = self._isolation
        helper: _Helper | None = getattr(_local, "helper", None)
        if helper is None or not helper.usable(isolation.memory_bytes):
            if helper is not None:
                helper.stop()
            helper = _local.helper = _Helper(isolation.memory_bytes)
        started = time.monotonic()
        try:
            outcome, value = helper.ask(request, self._seconds - self._spent, self._waiting)
        except _HelperLostError as lost:
            _local.helper = None
            helper.stop()
            raise IngestError(lost.reason(isolation, self._seconds)) from None
        except BaseException:  # the wait was stopped (a worker stopping): its parse too
            _local.helper = None
            helper.stop()
            raise
        finally:
            self._spent += time.monotonic() - started
        if outcome == "memory":
            _local.helper = None  # its memory is fragmented now: a fresh one for the next
            helper.stop()
            raise IngestError(
                f"document needs more than its memory budget of "
                f"{format_bytes(isolation.memory_bytes)} to parse (ingest.parse_memory_bytes)"
            )
        if outcome == "error":
            raise IngestError(value)
        if outcome == "lost":
            raise RuntimeError("the helper was asked to run something else meanwhile")
        return value


class _HelperLostError(Exception):
    def __init__(self, timed_out: bool, exit_code: int | None) -> None:
        self.timed_out, self.exit_code = timed_out, exit_code

    def reason(self, isolation: Isolation, seconds: float) -> str:
        if self.timed_out:
            per_mib = (
                f" + {isolation.seconds_per_mib:g} s per MiB of the file "
                "(ingest.parse_seconds_per_mib)"
                if isolation.seconds_per_mib
                else ""
            )
            return (
                f"parsing took longer than {seconds:g} s, over the limit "
                f"({isolation.timeout_seconds:g} s (ingest.parse_timeout_seconds){per_mib})"
            )
        return (
            f"the parser stopped without an answer (exit code {self.exit_code}): the document "
            f"may need more than its memory budget of {format_bytes(isolation.memory_bytes)} "
            "(ingest.parse_memory_bytes)"
        )


class _Helper:
    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import serve; serve({memory_bytes})"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def __del__(self) -> None:
        self.stop()  # its thread ended

    def usable(self, memory_bytes: int) -> bool:
        return self.process.poll() is None and self.memory_bytes == memory_bytes

    def ask(
        self, request: tuple[Any, ...], timeout: float, waiting: Callable[[], None]
    ) -> tuple[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            _write(self.process.stdin, request)
            while True:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise _HelperLostError(timed_out=True, exit_code=None)
                if select.select([self.process.stdout], [], [], min(wait, _POLL_SECONDS))[0]:
                    break
                if self.process.poll() is not None:
                    break
                waiting()
            answer: tuple[str, Any] = _read(self.process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            raise _HelperLostError(timed_out=False, exit_code=self.process.poll()) from None
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class _Pickler(pickle.Pickler):
    """Pickles Pillow images as their raw pixels, passed out of band like numpy arrays."""

    def reducer_override(self, obj: Any) -> Any:
        pillow = sys.modules.get("PIL.Image")
        if pillow is not None and isinstance(obj, pillow.Image) and obj.mode in ("L", "RGB"):
            return _image, (obj.mode, obj.size, pickle.PickleBuffer(obj.tobytes()))
        return NotImplemented


def _image(mode: str, size: tuple[int, int], pixels: bytearray) -> Any:
    from PIL import Image

    return Image.frombytes(mode, size, pixels)


def _write(stream: IO[bytes], value: object) -> None:
    buffers: list[pickle.PickleBuffer] = []
    out = io.BytesIO()
    _Pickler(out, protocol=5, buffer_callback=buffers.append).dump(value)
    views = [buffer.raw() for buffer in buffers]
    data = out.getbuffer()
    stream.write(_HEADER.pack(len(data), len(views)))
    stream.write(b"".join(_SIZE.pack(view.nbytes) for view in views))
    stream.write(data)
    for view in views:
        stream.write(view)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    size, count = _HEADER.unpack(_exactly(stream, _HEADER.size))
    sizes = [_SIZE.unpack(_exactly(stream, _SIZE.size))[0] for _ in range(count)]
    data = _exactly(stream, size)
    buffers = []
    for length in sizes:
        buffer = bytearray(length)
        view, got = memoryview(buffer), 0
        while got < length:
            read = stream.readinto(view[got:])  # type: ignore[attr-defined]
            if not read:
                raise EOFError
            got += read
        buffers.append(buffer)
    # Only ever between this process and the helper it started, run as the same user.
    return pickle.loads(data, buffers=buffers)  # noqa: S301


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def serve(memory_bytes: int) -> None:
    """The helper: run requests from stdin until it closes, answers to stdout."""
    from mmstack.ingest.parsers import OUT_OF_MEMORY, failure_reasons

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    token, items = 0, iter(())
    while True:
        try:
            request = _read(requests)
        except EOFError:
            return
        answer: tuple[str, Any]
        try:
            with failure_reasons():
                match request:
                    case ("call", function, args, kwargs):
                        answer = ("ok", function(*args, **kwargs))
                    case ("iterate", function, args, kwargs):
                        _close(items)
                        token, items = token + 1, iter(())
                        items = function(*args, **kwargs)
                        answer = ("ok", token)
                    case ("next", asked) if asked == token:
                        item = next(items, _DONE)
                        answer = ("ok", (False, None) if item is _DONE else (True, item))
                    case _:
                        answer = ("lost", None)
        except IngestError as exc:
            answer = ("memory", "") if exc.message == OUT_OF_MEMORY else ("error", exc.message)
        except MemoryError:
            answer = ("memory", "")
        try:
            _write(answers, answer)
        except MemoryError:  # the answer was made, but its pickle does not fit
            _write(answers, ("memory", ""))


_DONE = object()


def _close(items: Iterator[Any]) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        close()
