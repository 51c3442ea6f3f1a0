"""Document parsers run in a helper process that can be stopped: with a time budget (the
helper is killed past it) and a memory budget (its address space is capped), so one
hostile file cannot hold a worker for minutes or take its memory, whatever parser weakness
it finds next.

Each thread that parses has a helper of its own, started on first use (a Python with the
parsers imported, about half a second) and kept for the next files; one that ran out of
time or memory is replaced. Requests and answers are pickles over its stdin and stdout.

Media and PDF stay in the worker: they need its models (OCR, speech), and bound their own
work (pixels, duration, pages).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from mmstack.errors import IngestError
from mmstack.ingest.document import ParsedDocument

from .context import Isolation
from .limits import ParseLimits, format_bytes

_POLL_SECONDS = 1.0
_HEADER = struct.Struct("!Q")
_local = threading.local()


def parse_isolated(
    media_type: str,
    path: Path,
    *,
    filename: str,
    limits: ParseLimits,
    isolation: Isolation,
    waiting: Callable[[], None],
) -> ParsedDocument:
    """Parse the file at `path` with the parser of `media_type` in this thread's helper;
    `waiting` is called about once a second until it answers (to keep a job's lease)."""
    helper: _Helper | None = getattr(_local, "helper", None)
    if helper is None or not helper.usable(isolation.memory_bytes):
        if helper is not None:
            helper.stop()
        helper = _local.helper = _Helper(isolation.memory_bytes)
    try:
        outcome, value = helper.ask(
            (media_type, str(path), filename, limits), isolation.timeout_seconds, waiting
        )
    except _HelperLostError as lost:
        _local.helper = None
        helper.stop()
        raise IngestError(lost.reason(isolation)) from None
    if outcome == "memory":
        _local.helper = None  # its memory is fragmented now: a fresh one for the next
        helper.stop()
        raise IngestError(
            f"document needs more than its memory budget of "
            f"{format_bytes(isolation.memory_bytes)} to parse (ingest.parse_memory_bytes)"
        )
    if outcome == "error":
        raise IngestError(value)
    assert isinstance(value, ParsedDocument)
    return value


class _HelperLostError(Exception):
    def __init__(self, timed_out: bool, exit_code: int | None) -> None:
        self.timed_out, self.exit_code = timed_out, exit_code

    def reason(self, isolation: Isolation) -> str:
        if self.timed_out:
            return (
                f"parsing took longer than {isolation.timeout_seconds:g} s, over the limit "
                "(ingest.parse_timeout_seconds)"
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
            while not select.select([self.process.stdout], [], [], _POLL_SECONDS)[0]:
                if time.monotonic() > deadline:
                    raise _HelperLostError(timed_out=True, exit_code=None)
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


def _write(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    # Only ever between this process and the helper it started, run as the same user.
    return pickle.loads(data)  # noqa: S301


def serve(memory_bytes: int) -> None:
    """The helper: parse requests from stdin until it closes, answers to stdout."""
    from mmstack.ingest.parsers import OUT_OF_MEMORY, parse_bytes

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    while True:
        try:
            media_type, path, filename, limits = _read(requests)
        except EOFError:
            return
        try:
            document = parse_bytes(
                media_type, Path(path).read_bytes(), filename=filename, limits=limits
            )
            answer: tuple[str, Any] = ("ok", document)
        except IngestError as exc:
            answer = ("memory", "") if exc.message == OUT_OF_MEMORY else ("error", exc.message)
        except MemoryError:
            answer = ("memory", "")
        try:
            _write(answers, answer)
        except MemoryError:  # the document was parsed, but its pickle does not fit
            _write(answers, ("memory", ""))
