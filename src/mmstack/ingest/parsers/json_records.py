"""JSON and JSON Lines: objects become RECORD elements of `key.path: value` lines."""

from __future__ import annotations

import json
from typing import Any

from mmstack.errors import IngestError
from mmstack.ingest.document import ElementKind, ParsedDocument
from mmstack.media.detect import APPLICATION_JSON, APPLICATION_NDJSON

from .builder import ElementBuilder
from .limits import ParseLimits
from .text_decode import decode_text


def parse(data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument:
    limits.check_input(data)
    value = _loads(decode_text(data), line_offset=0)
    builder = ElementBuilder(limits)
    if isinstance(value, list):
        for item in value:
            builder.add(ElementKind.RECORD, render(item))
    elif isinstance(value, dict):
        _add_object(builder, value)
    else:
        builder.add(ElementKind.RECORD, render(value))
    return builder.finish(APPLICATION_JSON, empty_reason="JSON document holds no data")


def parse_lines(data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument:
    """JSON Lines: one value per line, each a record; blank lines are skipped."""
    limits.check_input(data)
    builder = ElementBuilder(limits)
    for number, line in enumerate(decode_text(data).split("\n")):
        if line.strip():
            builder.add(ElementKind.RECORD, render(_loads(line, line_offset=number)))
    return builder.finish(APPLICATION_NDJSON, empty_reason="JSON Lines file holds no data")


def _loads(text: str, *, line_offset: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        line = exc.lineno + line_offset
        raise IngestError(f"invalid JSON at line {line}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise IngestError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal past Python's digit limit
        raise IngestError(f"invalid JSON: {exc}") from None


def _add_object(builder: ElementBuilder, value: dict[str, Any]) -> None:
    """A flat object is one record; a nested one gives a record per top-level key, and a
    key holding a list of objects gives one record per object (under that key's path)."""
    if not value:
        return
    if all(_is_leaf(child) for child in value.values()):
        builder.add(ElementKind.RECORD, render(value))
        return
    scalars: dict[str, Any] = {}
    for key, child in value.items():
        if _is_leaf(child):
            scalars[key] = child
            continue
        if scalars:
            builder.add(ElementKind.RECORD, render(scalars))
            scalars = {}
        if isinstance(child, list) and child and all(isinstance(i, dict) for i in child):
            for item in child:
                builder.add(ElementKind.RECORD, render(item), heading_path=(key,))
        else:
            builder.add(ElementKind.RECORD, render({key: child}), heading_path=(key,))
    if scalars:
        builder.add(ElementKind.RECORD, render(scalars))


def _is_leaf(value: Any) -> bool:
    """Rendered on one line: a scalar, or a list of scalars."""
    return not isinstance(value, dict | list) or (
        isinstance(value, list) and all(not isinstance(i, dict | list) for i in value)
    )


def render(value: Any) -> str:
    """`key.path: value` lines; lists of scalars on one line, other list items as `key[i]`.

    Iterative, since json.loads accepts nesting deeper than Python's recursion limit.
    """
    lines: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, dict) and current:
            children = [(f"{path}.{key}" if path else str(key), v) for key, v in current.items()]
            stack.extend(reversed(children))
        elif isinstance(current, list) and current and not _is_leaf(current):
            stack.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(current)]))
        elif path:
            lines.append(f"{path}: {_scalar_text(current)}")
        elif current != [] and current != {}:  # an empty top-level value holds nothing
            lines.append(_scalar_text(current))
    return "\n".join(lines)


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(_scalar_text(item) for item in value) if value else "[]"
    if isinstance(value, dict):
        return "{}"
    return json.dumps(value)
