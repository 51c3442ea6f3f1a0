"""DOCX via python-docx: body paragraphs and tables in order, Heading styles as sections."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from docx.document import Document
from docx.opc.constants import CONTENT_TYPE as CT
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.package import Package
from docx.styles.style import ParagraphStyle
from docx.table import Table
from docx.text.paragraph import Paragraph

from mmstack.errors import IngestError
from mmstack.ingest.document import ElementKind, ParsedDocument
from mmstack.media.detect import APPLICATION_DOCX

from .builder import ElementBuilder, collapse_whitespace, table_row
from .limits import ParseLimits
from .zip_guard import check_xml_parts, check_zip_container

_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)
_BODY_TEXT_OUTLINE_LEVEL = 9
_MAX_STYLE_DEPTH = 10  # base-style chains are short; a cycle must not loop forever

_P = qn("w:p")
_TBL = qn("w:tbl")
_SDT = qn("w:sdt")
_SDT_CONTENT = qn("w:sdtContent")
_P_PR = qn("w:pPr")
_OUTLINE_LEVEL = f"{_P_PR}/{qn('w:outlineLvl')}"
_NUM_PR = f"{_P_PR}/{qn('w:numPr')}"
_NUM_LEVEL = f"{_NUM_PR}/{qn('w:ilvl')}"
_VAL = qn("w:val")

_OTHER_OFFICE_FORMATS = {
    "xl/workbook.xml": "an Excel workbook (.xlsx)",
    "ppt/presentation.xml": "a PowerPoint presentation (.pptx)",
}


def parse(data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument:
    limits.check_input(data)
    _check_members(set(check_zip_container(data, limits, label="DOCX")))
    check_xml_parts(data, limits, label="DOCX")
    builder = ElementBuilder(limits)
    try:
        document = _open(data)
        _Extractor(document, builder).run()
        properties = document.core_properties
        title = properties.title or None
        metadata: dict[str, Any] = {"author": properties.author} if properties.author else {}
    except IngestError:
        raise
    except Exception as exc:  # python-docx signals malformed content with many types
        raise IngestError(f"DOCX is corrupt: {_describe(exc)}") from None
    if title is None:
        title = next((e.text for e in builder.elements if e.kind is ElementKind.TITLE), None)
    return builder.finish(
        APPLICATION_DOCX, empty_reason="DOCX contains no text", title=title, metadata=metadata
    )


def _check_members(members: set[str]) -> None:
    if "[Content_Types].xml" not in members:
        raise IngestError("not a DOCX file: a ZIP archive without [Content_Types].xml")
    for part, what in _OTHER_OFFICE_FORMATS.items():
        if part in members:
            raise IngestError(f"not a DOCX file: the content is {what}")
    if not any(name.startswith("word/") for name in members):
        raise IngestError("not a DOCX file: the ZIP archive has no Word document part")


def _open(data: bytes) -> Document:
    part = Package.open(io.BytesIO(data)).main_document_part
    if part.content_type != CT.WML_DOCUMENT_MAIN:
        raise IngestError(
            f"not a DOCX file: its main part is {part.content_type}, not a Word document"
        )
    document: Document = part.document
    return document


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"a required part is missing ({exc.args[0] if exc.args else exc})"
    if isinstance(exc, SyntaxError):  # lxml's XMLSyntaxError
        return f"a part is not well-formed XML ({exc})"
    return f"invalid package structure ({type(exc).__name__}: {exc})"


class _Extractor:
    def __init__(self, document: Document, builder: ElementBuilder) -> None:
        self._document = document
        self._builder = builder
        self._list_lines: list[str] = []

    def run(self) -> None:
        for element in _body_blocks(self._document.element.body):
            if element.tag == _P:
                self._paragraph(Paragraph(element, self._document))
            else:
                self._flush_list()
                self._builder.add(ElementKind.TABLE, _table_text(Table(element, self._document)))
        self._flush_list()

    def _paragraph(self, paragraph: Paragraph) -> None:
        text = paragraph.text
        style = paragraph.style
        # Headings first: numbered heading styles carry list numbering too.
        level = _heading_level(paragraph, style)
        list_level = None if level is not None else _list_level(paragraph, style)
        if list_level is not None:
            if text.strip():
                self._list_lines.append(f"{'  ' * list_level}- {collapse_whitespace(text)}")
            return
        self._flush_list()
        if style is not None and (style.name or "").lower() == "title":
            self._builder.add(ElementKind.TITLE, collapse_whitespace(text))
        elif level is not None:
            self._builder.heading(text, level)
        else:
            self._builder.add(ElementKind.PARAGRAPH, text)

    def _flush_list(self) -> None:
        if self._list_lines:
            self._builder.add(ElementKind.LIST, "\n".join(self._list_lines))
            self._list_lines.clear()


def _body_blocks(body: BaseOxmlElement) -> Iterator[BaseOxmlElement]:
    """Paragraphs and tables of the body in order, including those in content controls."""
    stack = list(reversed(body))
    while stack:
        element = stack.pop()
        if element.tag in (_P, _TBL):
            yield element
        elif element.tag == _SDT:
            content = element.find(_SDT_CONTENT)
            if content is not None:
                stack.extend(reversed(content))


def _styles(style: ParagraphStyle | None) -> Iterator[ParagraphStyle]:
    """A style and the styles it is based on, nearest first."""
    for _ in range(_MAX_STYLE_DEPTH):
        if style is None:
            return
        yield style
        style = style.base_style


def _heading_level(paragraph: Paragraph, style: ParagraphStyle | None) -> int | None:
    """From a "Heading N" style (or one based on it), else from an outline level."""
    for candidate in _styles(style):
        for name in (candidate.name, candidate.style_id):
            match = _HEADING_STYLE.fullmatch(name or "")
            if match:
                return int(match.group(1))
    # Localized or custom heading styles still carry an outline level.
    for element in (paragraph._p, *(s.element for s in _styles(style))):
        value = element.find(_OUTLINE_LEVEL)
        if value is not None:
            level = _int(value.get(_VAL))
            if level is None or level >= _BODY_TEXT_OUTLINE_LEVEL:
                return None
            return level + 1
    return None


def _list_level(paragraph: Paragraph, style: ParagraphStyle | None) -> int | None:
    """The nesting level (0-based) of a list item, None if the paragraph is not one."""
    num_pr = paragraph._p.find(_NUM_PR)
    if num_pr is not None:
        level = paragraph._p.find(_NUM_LEVEL)
        return (_int(level.get(_VAL)) or 0) if level is not None else 0
    for candidate in _styles(style):
        if (candidate.name or "").lower().startswith("list") or (
            candidate.element.find(_NUM_PR) is not None
        ):
            return 0
    return None


def _table_text(table: Table) -> str:
    """Rows as "cell | cell" lines; a merged cell counts once per row."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(collapse_whitespace(cell.text))
        if any(cells):
            lines.append(table_row(cells))
    return "\n".join(lines)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
