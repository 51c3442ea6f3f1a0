"""Test pictures and PDFs made in the tests (PIL-rendered text, scikit-image samples), and
the OCR reader loaded once per test process."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from mmstack.models.catalog import BUNDLED_MODELS, OCR_ID
from mmstack.models.contracts import TextLine
from mmstack.models.ocr import RapidTextReader, load_text_reader
from mmstack.models.registry import ModelRegistry

OCR_THREADS = 2


def session_text_reader(tmp_path_factory: pytest.TempPathFactory) -> RapidTextReader:
    """PP-OCRv6 from the bundled package; `ModelRegistry.load` keeps one per process."""
    registry = ModelRegistry(BUNDLED_MODELS, tmp_path_factory.getbasetemp() / "models")
    loader = partial(load_text_reader, threads=OCR_THREADS)
    return registry.load(OCR_ID, loader, options=(OCR_THREADS,))


class RecordingReader:
    """The real OCR, recording the size of every image it is asked to read."""

    def __init__(self, inner: RapidTextReader) -> None:
        self.inner = inner
        self.sizes: list[tuple[int, int]] = []

    def read(self, image: Image.Image) -> list[TextLine]:
        self.sizes.append(image.size)
        return self.inner.read(image)


def text_image(
    lines: list[str],
    *,
    size: tuple[int, int] = (1000, 240),
    font_size: int = 36,
    at: tuple[int, int] = (30, 30),
    spacing: float = 1.4,
    background: str | int | tuple[int, ...] = "white",
    mode: str = "RGB",
) -> Image.Image:
    """Black text, one string per line, from `at` down."""
    image = Image.new(mode, size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    x, y = at
    for line in lines:
        draw.text((x, y), line, font=font, fill="black")
        y += round(font_size * spacing)
    return image


def sample(name: str) -> Image.Image:
    """A scikit-image sample picture (shipped with the package): astronaut, chelsea,
    coffee, page, text..."""
    pixels = getattr(data, name)()
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels but holds almost no data (a bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


SCANNED_SENTENCE = "The corroded valve was replaced in Valparaiso on Tuesday."
SIGN_TEXT = "Emergency exit on the left"


def pdf_with_scanned_page(path: Path) -> Path:
    """Page 1 has a text layer; page 2 only a picture of two lines of text (a scan); page 3
    text and, under it, a picture of a sign."""
    pdf = FPDF()
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Maintenance log. The pumps of the eastern station were inspected.")
    pdf.add_page()
    scan = text_image(
        ["The corroded valve was replaced", "in Valparaiso on Tuesday."],
        size=(1200, 300),
        font_size=44,
        at=(40, 50),
    )
    pdf.image(scan, x=10, y=20, w=180)  # 180 x 45 mm at (10, 20) mm
    pdf.add_page()
    pdf.multi_cell(0, 8, "Floor plan. The sign below hangs at the stairwell door.")
    sign = text_image([SIGN_TEXT], size=(1000, 120), font_size=44, at=(40, 30))
    pdf.image(sign, x=20, y=60, w=150)  # 150 x 18 mm at (20, 60) mm
    path.write_bytes(bytes(pdf.output()))
    return path


def mm_to_points(mm: float) -> float:
    return mm * 72 / 25.4
