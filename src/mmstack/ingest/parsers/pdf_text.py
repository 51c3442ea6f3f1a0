"""A PDF page's text layer as PDFium gives it: lines with their baselines and font sizes,
grouped into paragraphs where the line spacing or the font size jumps."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from itertools import pairwise

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

_NEW_PARAGRAPH_PITCH = 1.4  # baseline gap, relative to the page's usual one, that opens one
_NEW_PARAGRAPH_SIZE = 1.2  # change of font size between lines that opens one


@dataclass(frozen=True, slots=True)
class Line:
    """One line of PDFium's text; a hyphenated word may join it to the next visual line."""

    text: str
    first_y: float | None  # baseline of the first character, None if unknown
    last_y: float | None  # baseline of the last character
    size: float  # font size of the first character


def text_length(text: str | list[Line]) -> int:
    """Characters other than spaces, in a string or a page's lines."""
    if isinstance(text, str):
        return len("".join(text.split()))
    return sum(text_length(line.text) for line in text)


def page_lines(textpage: pdfium.PdfTextPage) -> list[Line]:
    text = textpage.get_text_range()
    lines: list[Line] = []
    offset = 0  # in UTF-16 code units, PDFium's text indices
    for raw_line in text.split("\r\n"):
        content = raw_line.strip()
        if content:
            first = offset + len(raw_line) - len(raw_line.lstrip())
            last = offset + _utf16_len(raw_line.rstrip()) - _utf16_len(content[-1])
            first_y, size = _char_position(textpage, first, content[0])
            last_y, _ = _char_position(textpage, last, content[-1])
            lines.append(Line(content, first_y, last_y, size))
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


def paragraphs(lines: list[Line]) -> list[str]:
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


def _pitch(prev: Line, line: Line) -> float | None:
    """Distance from one line's baseline down to the next one's, if both are known."""
    if prev.last_y is None or line.first_y is None:
        return None
    return prev.last_y - line.first_y


def _size(prev: Line, line: Line) -> float:
    return max(prev.size, line.size, 1.0)


def _breaks(prev: Line, line: Line, usual_pitch: float | None) -> bool:
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
