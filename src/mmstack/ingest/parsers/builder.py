"""Accumulates a document's elements, tracking the heading path and the element limit."""

from __future__ import annotations

import re
from typing import Any

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ElementKind, ParsedDocument

from .limits import ParseLimits

# C0 controls other than tab and newline, DEL, and the noncharacters PDF text layers emit.
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F], " ")
_CONTROLS.update(dict.fromkeys([0xFFFE, 0xFFFF], ""))
_CONTROL_TABLE = str.maketrans(_CONTROLS)
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def table_row(cells: list[str]) -> str:
    """The one rendering of a table row every format shares: `cell | cell`."""
    return " | ".join(cells).rstrip()


class ElementBuilder:
    def __init__(self, limits: ParseLimits) -> None:
        self._limits = limits
        self._headings: list[tuple[int, str]] = []
        self.elements: list[Element] = []

    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._headings)

    def heading(self, text: str, level: int, *, page: int | None = None) -> None:
        """Open a section: it closes every open section of the same or a deeper level."""
        text = collapse_whitespace(text.translate(_CONTROL_TABLE))
        if not text:
            return
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        self._append(Element(ElementKind.HEADING, text, page, self.heading_path, level))

    def add(
        self,
        kind: ElementKind,
        text: str,
        *,
        page: int | None = None,
        heading_path: tuple[str, ...] | None = None,
    ) -> None:
        """Append a block; blank ones are dropped. Code keeps its indentation."""
        text = text.translate(_CONTROL_TABLE)
        if kind is ElementKind.CODE:
            text = _LEADING_BLANK_LINES.sub("", text).rstrip()
        else:
            text = text.strip()
        if not text:
            return
        path = self.heading_path if heading_path is None else heading_path
        self._append(Element(kind, text, page, path))

    def finish(
        self,
        media_type: str,
        *,
        empty_reason: str = "document contains no text",
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        page_count: int | None = None,
    ) -> ParsedDocument:
        if not self.elements:
            raise IngestError(empty_reason)
        title = collapse_whitespace(title) if title else None
        return ParsedDocument(
            media_type=media_type,
            elements=self.elements,
            title=title or None,
            metadata=metadata or {},
            page_count=page_count,
        )

    def _append(self, element: Element) -> None:
        if len(self.elements) >= self._limits.max_elements:
            raise IngestError(
                f"document has more than {self._limits.max_elements} text blocks "
                "(paragraphs, rows or records), over the limit"
            )
        self.elements.append(element)
