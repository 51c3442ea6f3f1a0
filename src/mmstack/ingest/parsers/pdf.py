"""PDF via PDFium: the text layer, page by page, split into paragraphs by line spacing.

With OCR in the parse context, a page with no (or negligible) text layer is rendered and
read, and on the other pages every embedded picture big enough to hold text is read too;
its text follows the page's own. OCR elements carry their page, a thumbnail of that page
and a `region` in PDF points (1/72 inch) from the top-left corner of the page as displayed:
pixels of the page rendered at 72 dpi.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ElementKind, ParsedDocument, Region
from mmstack.ingest.parsers.ocr_layout import ocr_elements
from mmstack.media.detect import APPLICATION_PDF, PDF_MAGIC, describe_signature
from mmstack.media.images import (
    READ_MAX_SIDE,
    asset_key,
    shrunk_for_reading,
    thumbnail_bytes,
)
from mmstack.models.contracts import TextReader

from .builder import ElementBuilder
from .context import ParseContext
from .limits import ParseLimits
from .pdf_text import Line, page_lines, paragraphs, text_length

# PDFium is not thread-safe, not even across different documents. OCR runs outside it.
PDFIUM_LOCK = threading.Lock()

# FPDF_GetLastError codes.
_ERR_SUCCESS = 0  # what PDFium reports for a well-formed document with no pages
_ERR_FILE = 2
_ERR_FORMAT = 3
_ERR_PASSWORD = 4
_ERR_SECURITY = 5


_MIN_TEXT_CHARS = 16  # a text layer shorter than this (a page number, a stamp) is no text
_OCR_DPI = 200
_THUMBNAIL_SIDE = 320
# An embedded picture is read when it shows at least this big on the page (points) and has
# at least this many pixels: smaller ones are icons, logos and rules.
_MIN_PICTURE_POINTS = (72.0, 14.0)
_MIN_PICTURE_PIXELS = (64, 16)
_MAX_PICTURES_PER_PAGE = 8

NO_TEXT_REASON = "no extractable text (scanned PDF? OCR is not enabled)"
NO_TEXT_AFTER_OCR_REASON = "no extractable text: no text layer, and OCR read nothing"


@dataclass(frozen=True, slots=True)
class _Picture:
    """An embedded picture to read, and where it shows on the page (points, top-left)."""

    image: Image.Image
    bounds: tuple[float, float, float, float] | None


@dataclass(slots=True)
class _PageScan:
    """What one page needs from PDFium, taken under the lock; OCR then runs without it."""

    lines: list[Line]
    render: Image.Image | None = None  # the whole page, when it has no text layer to speak of
    render_scale: float = 1.0  # render pixels per point
    pictures: list[_Picture] = field(default_factory=list)
    thumbnail: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Opened:
    """What the document says of itself, before its pages."""

    page_count: int
    title: str | None
    ends_with_eof: bool


def parse(path: Path, *, filename: str, context: ParseContext) -> ParsedDocument:
    context.limits.check_size(path.stat().st_size)
    limits = context.limits
    steps = context.decoder.iterate(_scan, path, ocr=context.ocr is not None, limits=limits)
    opened = next(steps)
    assert isinstance(opened, _Opened)
    page_count = opened.page_count
    builder = ElementBuilder(limits)
    assets: dict[str, bytes] = {}
    preview: str | None = None
    empty_pages = ocr_pages = ocr_pictures = 0
    for index, scan in enumerate(steps):
        assert isinstance(scan, _PageScan)
        thumbnail = asset_key(scan.thumbnail) if scan.thumbnail else None
        read: list[Element] = []
        if scan.render is not None and context.ocr is not None:
            read = _read_page(context.ocr, scan, index + 1, thumbnail)
            ocr_pages += 1
        if not read:
            if not scan.lines:
                empty_pages += 1
            for paragraph in paragraphs(scan.lines):
                builder.add(ElementKind.PARAGRAPH, paragraph, page=index + 1)
        if context.ocr is not None:
            for picture in scan.pictures:
                read += _read_picture(context.ocr, picture, index + 1, thumbnail)
                ocr_pictures += 1
        _extend(builder, read, limits)
        if thumbnail and scan.thumbnail and (read or index == 0):
            assets[thumbnail] = scan.thumbnail
        if index == 0:
            preview = thumbnail
        context.progress((index + 1) / page_count)
    metadata: dict[str, Any] = {}
    if empty_pages:
        metadata["pages_without_text"] = empty_pages
    if ocr_pages:
        metadata["ocr_pages"] = ocr_pages
    if ocr_pictures:
        metadata["ocr_pictures"] = ocr_pictures
    if not opened.ends_with_eof:
        metadata["warning"] = "the file does not end with %%EOF; it may be truncated"
    document_out = builder.finish(
        APPLICATION_PDF,
        empty_reason=NO_TEXT_AFTER_OCR_REASON if context.ocr else NO_TEXT_REASON,
        title=opened.title,
        metadata=metadata,
        page_count=page_count,
    )
    document_out.assets = assets
    document_out.thumbnail = preview
    return document_out


def _scan(path: Path, *, ocr: bool, limits: ParseLimits) -> Iterator[_Opened | _PageScan]:
    """What PDFium reads of the document, then of each page in turn: the decoding, which
    a `Decoder` may run in a helper process; OCR of what it renders runs in the caller."""
    data = path.read_bytes()
    # PDFium tolerates up to 1 KiB of junk before the header, as the spec allows.
    if data.find(PDF_MAGIC, 0, 1024) < 0:
        what = describe_signature(data[:16])
        detail = f": the content is {what}" if what else " (no %PDF- header)"
        raise IngestError(f"not a PDF file{detail}")
    with PDFIUM_LOCK:
        document = _open(data)
    try:
        with PDFIUM_LOCK:
            page_count = len(document)
            info = document.get_metadata_dict(skip_empty=True)
        if page_count > limits.max_pages:
            raise IngestError(f"PDF has {page_count} pages, over the limit of {limits.max_pages}")
        yield _Opened(page_count, info.get("Title"), _has_eof_marker(data))
        for index in range(page_count):
            with PDFIUM_LOCK:
                try:
                    scan = _scan_page(
                        document, index, ocr, limits.max_image_pixels, preview=index == 0
                    )
                except pdfium.PdfiumError as exc:
                    raise IngestError(f"PDF page {index + 1} cannot be read: {exc}") from None
            yield scan
    finally:
        with PDFIUM_LOCK:
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


def _extend(builder: ElementBuilder, elements: list[Element], limits: ParseLimits) -> None:
    if len(builder.elements) + len(elements) > limits.max_elements:
        raise IngestError(
            f"document has more than {limits.max_elements} text blocks "
            "(paragraphs, rows or records), over the limit"
        )
    builder.elements.extend(elements)


def _scan_page(
    document: pdfium.PdfDocument, index: int, ocr: bool, max_pixels: int, *, preview: bool
) -> _PageScan:
    """The page's text lines and, for OCR, the images to read; callers hold the lock."""
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            scan = _PageScan(page_lines(textpage))
            if ocr and text_length(scan.lines) < _MIN_TEXT_CHARS:
                scan.render_scale = _render_scale(page, max_pixels)
                scan.render = _render(page, scan.render_scale)
            elif ocr:
                scan.pictures = _pictures(page, textpage, max_pixels)
        finally:
            textpage.close()
        if scan.render is not None:
            scan.thumbnail = thumbnail_bytes(scan.render, _THUMBNAIL_SIDE)
        elif preview or scan.pictures:
            width, height = page.get_size()
            scale = _THUMBNAIL_SIDE / max(width, height, 1.0)
            scan.thumbnail = thumbnail_bytes(_render(page, scale), _THUMBNAIL_SIDE)
        return scan
    finally:
        page.close()


def _render_scale(page: pdfium.PdfPage, max_pixels: int) -> float:
    """Render pixels per point for OCR: about 200 dpi, within RapidOCR's working size and
    the image pixel limit."""
    width, height = page.get_size()
    width, height = max(width, 1.0), max(height, 1.0)
    scale = min(_OCR_DPI / 72, READ_MAX_SIDE / max(width, height))
    while math.ceil(width * scale) * math.ceil(height * scale) > max_pixels and scale > 1e-3:
        scale = min(scale * 0.99, math.sqrt(max_pixels / (width * height)))
    return float(scale)


def _render(page: pdfium.PdfPage, scale: float) -> Image.Image:
    bitmap = page.render(scale=scale)
    try:
        image: Image.Image = bitmap.to_pil().convert("RGB")  # a copy: the buffer is freed below
        return image
    finally:
        bitmap.close()


def _pictures(
    page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, max_pixels: int
) -> list[_Picture]:
    """The page's largest embedded pictures that may hold text not already in the text
    layer, decoded. A scan under its own OCR text layer (a "searchable" PDF) is skipped."""
    left, _, _, top = page.get_bbox()  # the crop box as displayed (inherited boxes too)
    rotated = page.get_rotation() != 0
    candidates = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
        if not isinstance(obj, pdfium.PdfImage):
            continue
        x0, y0, x1, y1 = obj.get_bounds()
        px_width, px_height = obj.get_px_size()
        shown = (x1 - x0, y1 - y0)
        if (
            shown[0] < _MIN_PICTURE_POINTS[0]
            or shown[1] < _MIN_PICTURE_POINTS[1]
            or px_width < _MIN_PICTURE_PIXELS[0]
            or px_height < _MIN_PICTURE_PIXELS[1]
            or px_width * px_height > max_pixels
        ):
            continue
        # Bounds of a picture inside a form XObject are in the form's space, not the page's.
        nested = obj.level > 0
        covered = "" if nested else textpage.get_text_bounded(x0, y0, x1, y1)
        if text_length(covered) >= _MIN_TEXT_CHARS:
            continue  # its text is in the text layer already
        bounds = None if rotated or nested else (x0 - left, top - y1, x1 - left, top - y0)
        candidates.append((shown[0] * shown[1], obj, bounds))
    candidates.sort(key=lambda item: item[0], reverse=True)
    pictures = []
    for _, obj, bounds in candidates[:_MAX_PICTURES_PER_PAGE]:
        try:
            # PDFium owns this bitmap's buffer; it is freed when the object is collected.
            bitmap = obj.get_bitmap(render=True)
        except pdfium.PdfiumError:
            continue  # an image PDFium cannot decode is skipped, not the whole file
        picture, _ = shrunk_for_reading(bitmap.to_pil().convert("RGB"))
        pictures.append(_Picture(picture, bounds))
    return pictures


def _read_page(ocr: TextReader, scan: _PageScan, page: int, thumbnail: str | None) -> list[Element]:
    assert scan.render is not None
    scale = scan.render_scale

    def to_points(box: Region) -> Region:
        return _scaled(box, 1 / scale, 1 / scale, 0.0, 0.0)

    return ocr_elements(ocr.read(scan.render), page=page, thumbnail=thumbnail, transform=to_points)


def _read_picture(
    ocr: TextReader, picture: _Picture, page: int, thumbnail: str | None
) -> list[Element]:
    image, bounds = picture.image, picture.bounds
    x_scale = (bounds[2] - bounds[0]) / image.width if bounds else 0.0
    y_scale = (bounds[3] - bounds[1]) / image.height if bounds else 0.0

    def to_points(box: Region) -> Region | None:
        return _scaled(box, x_scale, y_scale, bounds[0], bounds[1]) if bounds else None

    return ocr_elements(ocr.read(image), page=page, thumbnail=thumbnail, transform=to_points)


def _scaled(box: Region, x_scale: float, y_scale: float, dx: float, dy: float) -> Region:
    return (
        math.floor(box[0] * x_scale + dx),
        math.floor(box[1] * y_scale + dy),
        math.ceil(box[2] * x_scale + dx),
        math.ceil(box[3] * y_scale + dy),
    )


def _has_eof_marker(data: bytes) -> bool:
    return data.rfind(b"%%EOF", max(len(data) - 2048, 0)) >= 0
