"""PDF via PDFium: the text layer, page by page, split into paragraphs by line spacing."""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from mmstack.errors import IngestError
from mmstack.ingest.document import ElementKind, ParsedDocument

from .builder import ElementBuilder
from .context import ParseContext
from .detect import APPLICATION_PDF, PDF_MAGIC, describe_signature
from .limits import ParseLimits

# PDFium is not thread-safe, not even across different documents.
_PDFIUM_LOCK = threading.Lock()

# FPDF_GetLastError codes.
_ERR_SUCCESS = 0  # what PDFium reports for a well-formed document with no pages
_ERR_FILE = 2
_ERR_FORMAT = 3
_ERR_PASSWORD = 4
_ERR_SECURITY = 5

_NEW_PARAGRAPH_PITCH = 1.4  # baseline gap, relative to the page's usual one, that opens one
_NEW_PARAGRAPH_SIZE = 1.2  # change of font size between lines that opens one

NO_TEXT_REASON = "no extractable text (scanned PDF? OCR is not enabled)"


@dataclass(frozen=True, slots=True)
class _Line:
    """One line of PDFium's text; a hyphenated word may join it to the next visual line."""

    text: str
    first_y: float | None  # baseline of the first character, None if unknown
    last_y: float | None  # baseline of the last character
    size: float  # font size of the first character


def parse(path: Path, *, filename: str, context: ParseContext) -> ParsedDocument:
    limits = context.limits
    limits.check_size(path.stat().st_size)
    data = path.read_bytes()
    # PDFium tolerates up to 1 KiB of junk before the header, as the spec allows.
    if data.find(PDF_MAGIC, 0, 1024) < 0:
        what = describe_signature(data[:16])
        detail = f": the content is {what}" if what else " (no %PDF- header)"
        raise IngestError(f"not a PDF file{detail}")
    with _PDFIUM_LOCK:
        document = _open(data)
        try:
            return _extract(document, data, limits)
        finally:
            document.close()


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == _ERR_PASSWORD:
            raise IngestError("PDF is encrypted (password-protected)") from None
        if code == _ERR_SECURITY:
            raise IngestError("PDF uses an unsupported security handler") from None
        if not _has_eof_marker(data):
            raise IngestError(
                "PDF is truncated: it does not end with %%EOF and cannot be read"
            ) from None
        if code == _ERR_SUCCESS:
            raise IngestError("PDF has no pages") from None
        if code in (_ERR_FILE, _ERR_FORMAT):
            raise IngestError("PDF is corrupt: PDFium cannot read its structure") from None
        raise IngestError(f"PDF cannot be opened: {exc}") from None


def _extract(document: pdfium.PdfDocument, data: bytes, limits: ParseLimits) -> ParsedDocument:
    page_count = len(document)
    if page_count > limits.max_pages:
        raise IngestError(f"PDF has {page_count} pages, over the limit of {limits.max_pages}")
    builder = ElementBuilder(limits)
    empty_pages = 0
    for index in range(page_count):
        try:
            lines = _page_lines(document, index)
        except pdfium.PdfiumError as exc:
            raise IngestError(f"PDF page {index + 1} cannot be read: {exc}") from None
        if not lines:
            empty_pages += 1
        for paragraph in _paragraphs(lines):
            builder.add(ElementKind.PARAGRAPH, paragraph, page=index + 1)
    metadata: dict[str, Any] = {}
    if empty_pages:
        metadata["pages_without_text"] = empty_pages
    if not _has_eof_marker(data):
        metadata["warning"] = "the file does not end with %%EOF; it may be truncated"
    info = document.get_metadata_dict(skip_empty=True)
    return builder.finish(
        APPLICATION_PDF,
        empty_reason=NO_TEXT_REASON,
        title=info.get("Title"),
        metadata=metadata,
        page_count=page_count,
    )


def _has_eof_marker(data: bytes) -> bool:
    return data.rfind(b"%%EOF", max(len(data) - 2048, 0)) >= 0


def _page_lines(document: pdfium.PdfDocument, index: int) -> list[_Line]:
    """The page's lines in PDFium's reading order, with the baselines around each one."""
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            return _lines(textpage)
        finally:
            textpage.close()
    finally:
        page.close()


def _lines(textpage: pdfium.PdfTextPage) -> list[_Line]:
    text = textpage.get_text_range()
    lines: list[_Line] = []
    offset = 0  # in UTF-16 code units, PDFium's text indices
    for raw_line in text.split("\r\n"):
        content = raw_line.strip()
        if content:
            first = offset + len(raw_line) - len(raw_line.lstrip())
            last = offset + _utf16_len(raw_line.rstrip()) - _utf16_len(content[-1])
            first_y, size = _char_position(textpage, first, content[0])
            last_y, _ = _char_position(textpage, last, content[-1])
            lines.append(_Line(content, first_y, last_y, size))
        offset += _utf16_len(raw_line) + 2
    return lines


def _utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _char_position(
    textpage: pdfium.PdfTextPage, text_index: int, expected: str
) -> tuple[float | None, float]:
    """Baseline y and font size of the character at a text index, if it is the one expected."""
    char_index = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage.raw, text_index)
    if char_index < 0 or pdfium_c.FPDFText_GetUnicode(textpage.raw, char_index) != ord(expected):
        return None, 0.0
    x, y = ctypes.c_double(), ctypes.c_double()
    if not pdfium_c.FPDFText_GetCharOrigin(textpage.raw, char_index, x, y):
        return None, 0.0
    return float(y.value), float(pdfium_c.FPDFText_GetFontSize(textpage.raw, char_index))


def _paragraphs(lines: list[_Line]) -> list[str]:
    """Group lines into paragraphs where the baseline gap or the font size jumps."""
    if not lines:
        return []
    downward = [
        pitch
        for prev, line in pairwise(lines)
        if (pitch := _pitch(prev, line)) is not None and pitch > 0.3 * _size(prev, line)
    ]
    # The lower quartile, not the median: on a page of short paragraphs most gaps are breaks.
    usual_pitch = sorted(downward)[len(downward) // 4] if downward else None
    paragraphs: list[list[str]] = [[lines[0].text]]
    for prev, line in pairwise(lines):
        if _breaks(prev, line, usual_pitch):
            paragraphs.append([line.text])
        else:
            paragraphs[-1].append(line.text)
    return [" ".join(" ".join(paragraph).split()) for paragraph in paragraphs]


def _pitch(prev: _Line, line: _Line) -> float | None:
    """Distance from one line's baseline down to the next one's, if both are known."""
    if prev.last_y is None or line.first_y is None:
        return None
    return prev.last_y - line.first_y


def _size(prev: _Line, line: _Line) -> float:
    return max(prev.size, line.size, 1.0)


def _breaks(prev: _Line, line: _Line, usual_pitch: float | None) -> bool:
    pitch = _pitch(prev, line)
    if pitch is None:
        return False
    size = _size(prev, line)
    if abs(pitch) < 0.3 * size:  # the same baseline: cells of a row, runs PDFium split
        return False
    if pitch < 0:  # moved up: a new column or a floating block
        return True
    smaller = min(prev.size, line.size)
    if smaller > 0 and size / smaller > _NEW_PARAGRAPH_SIZE:
        return True
    return usual_pitch is not None and pitch > _NEW_PARAGRAPH_PITCH * usual_pitch
