"""The normalized document every parser produces, whatever the source format."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ElementKind(StrEnum):
    TITLE = "title"
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST = "list"
    TABLE = "table"
    CODE = "code"
    RECORD = "record"  # one row of a CSV, one object of a JSON array


@dataclass(frozen=True, slots=True)
class Element:
    """One block of text with where it came from.

    `page` is 1-based (PDF), `heading_path` the titles of the enclosing sections, outermost
    first; a heading element's own path ends with its own text. `level` is set on headings.
    """

    kind: ElementKind
    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    level: int | None = None


@dataclass(slots=True)
class ParsedDocument:
    media_type: str
    elements: list[Element]
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    page_count: int | None = None
