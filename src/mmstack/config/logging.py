"""Logging: readable lines at a terminal, one JSON object per line otherwise (or when
configured), with the request id of the HTTP request being served (set by the API
middleware) on every record logged while serving it."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# What every LogRecord has; anything else on a record was passed as `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate
        return True


class ConsoleFormatter(logging.Formatter):
    """`12:04:31 INFO    mmstack.api: message key=value ...`: the time, level, logger and
    message, then the request id and any `extra` fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_") and value is not None
        }
        if record.__dict__.get("request_id"):
            fields = {"request_id": record.__dict__["request_id"], **fields}
        if not fields:
            return line
        extras = " ".join(f"{key}={_show(value)}" for key, value in fields.items())
        head, newline, rest = line.partition("\n")  # a traceback goes after the fields
        return f"{head} {extras}{newline}{rest}"


def _show(value: Any) -> str:
    text = str(value)
    return repr(text) if not text or any(c.isspace() for c in text) else text


def configure_logging(
    level: str = "INFO", fmt: str = "auto", stream: IO[str] | None = None
) -> None:
    """Log to `stream` (stderr): `fmt` "console" for readable lines, "json" for JSON, "auto"
    for readable lines at a terminal and JSON otherwise."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.addFilter(_RequestIdFilter())
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
