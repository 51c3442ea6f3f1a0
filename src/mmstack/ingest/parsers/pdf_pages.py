"""One page of a PDF as a picture, and where a quoted passage sits on it: what the console
shows when an answer cites a page. A module-level function, so a `Decoder` can run it in
the helper process where parsing is isolated."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium

from .pdf import PDFIUM_LOCK

# A box is (left, top, right, bottom) as fractions of the page's width and height.
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class PageImage:
    png: bytes
    width: int
    height: int
    page_count: int
    boxes: list[Box]


def render_page(path: Path, page_number: int, *, max_side: int, quote: str | None) -> PageImage:
    """Page `page_number` (from 1) at most `max_side` pixels on its longer side, with the
    boxes of the lines that hold `quote` (found by its letters, whatever the spacing)."""
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
        try:
            count = len(pdf)
            if not 1 <= page_number <= count:
                raise ValueError(f"the document has {count} pages; there is no page {page_number}")
            page = pdf[page_number - 1]
            try:
                width, height = page.get_size()
                scale = max_side / max(width, height, 1.0)
                bitmap = page.render(scale=scale)
                try:
                    image = bitmap.to_pil().convert("RGB")
                finally:
                    bitmap.close()
                boxes = _quote_boxes(page, quote, width, height) if quote else []
            finally:
                page.close()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return PageImage(out.getvalue(), image.width, image.height, count, boxes)


def _quote_boxes(page: pdfium.PdfPage, quote: str, width: float, height: float) -> list[Box]:
    """The line boxes of the quote's characters on the page, or [] where it is not there
    (text read by OCR has no text layer to find it in)."""
    wanted = "".join(quote.split()).casefold()
    if not wanted:
        return []
    textpage = page.get_textpage()
    try:
        letters: list[str] = []
        indexes: list[int] = []
        for index in range(textpage.count_chars()):
            char = textpage.get_text_range(index, 1)
            if char and not char.isspace():
                letters.append(char.casefold())
                indexes.append(index)
        start = "".join(letters).find(wanted)
        if start < 0:
            return []
        end = start + len(wanted)
        boxes: list[list[float]] = []
        for index in indexes[start:end]:
            left, bottom, right, top = textpage.get_charbox(index)
            last = boxes[-1] if boxes else None
            # A character on the same line (overlapping vertically) widens the line's box.
            if last is not None and bottom < last[3] and top > last[1] and left >= last[0] - 1:
                last[0], last[1] = min(last[0], left), min(last[1], bottom)
                last[2], last[3] = max(last[2], right), max(last[3], top)
            else:
                boxes.append([left, bottom, right, top])
    finally:
        textpage.close()
    return [
        (left / width, 1 - top / height, right / width, 1 - bottom / height)
        for left, bottom, right, top in boxes
    ]
