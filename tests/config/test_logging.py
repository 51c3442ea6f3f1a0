"""Log lines: readable at a terminal, JSON otherwise or when configured."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import select
from collections.abc import Iterator

import pytest

from mmstack.config.logging import configure_logging, request_id_var


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_something() -> None:
    token = request_id_var.set("req-42")
    try:
        logging.getLogger("mmstack.test").info("file parsed", extra={"job_id": 7, "stage": None})
    finally:
        request_id_var.reset(token)


def _shown(screen: io.RawIOBase) -> str:
    """Everything written to the terminal so far."""
    shown = b""
    while select.select([screen], [], [], 0.5)[0]:
        chunk = screen.read(4096)
        if not chunk:
            break
        shown += chunk
    return shown.decode().replace("\r\n", "\n")


def test_json_lines_when_not_at_a_terminal() -> None:
    out = io.StringIO()
    configure_logging("INFO", "auto", stream=out)
    _log_something()
    record = json.loads(out.getvalue())
    assert record["message"] == "file parsed"
    assert record["level"] == "INFO"
    assert record["logger"] == "mmstack.test"
    assert record["request_id"] == "req-42"
    assert record["job_id"] == 7


def test_readable_lines_at_a_terminal() -> None:
    leader, follower = os.openpty()
    with open(follower, "w") as terminal, open(leader, "rb", buffering=0) as screen:
        configure_logging("INFO", "auto", stream=terminal)
        _log_something()
        try:
            raise ValueError("bad page")
        except ValueError:
            logging.getLogger("mmstack.test").exception("parse failed", extra={"file": "a b.pdf"})
        terminal.flush()
        shown = _shown(screen)
    first, second, *traceback = shown.splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO    mmstack\.test: file parsed request_id=req-42 job_id=7", first
    )
    assert second.endswith("ERROR   mmstack.test: parse failed file='a b.pdf'")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: bad page"


def test_json_when_configured_even_at_a_terminal() -> None:
    leader, follower = os.openpty()
    with open(follower, "w") as terminal, open(leader, "rb", buffering=0) as screen:
        configure_logging("INFO", "json", stream=terminal)
        _log_something()
        terminal.flush()
        shown = _shown(screen)
    assert json.loads(shown)["job_id"] == 7
