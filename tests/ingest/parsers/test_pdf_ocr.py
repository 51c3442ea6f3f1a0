from __future__ import annotations

import io
from pathlib import Path

import pytest
from fpdf import FPDF
from fpdf.enums import TextMode
from PIL import Image

from mmstack.errors import IngestError
from mmstack.ingest.document import ParsedDocument, TextSource
from mmstack.ingest.parsers import ParseContext, ParseLimits, parse_file
from mmstack.ingest.parsers.pdf import NO_TEXT_AFTER_OCR_REASON, parse
from mmstack.models.ocr import RapidTextReader
from tests.pictures import (
    SCANNED_SENTENCE,
    SIGN_TEXT,
    RecordingReader,
    mm_to_points,
    pdf_with_scanned_page,
    text_image,
)

A4_POINTS = (595.28, 841.89)


@pytest.fixture(scope="module")
def scanned_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pdf_with_scanned_page(tmp_path_factory.mktemp("pdf") / "log.pdf")


@pytest.fixture(scope="module")
def read_with_ocr(
    scanned_pdf: Path, text_reader: RapidTextReader
) -> tuple[ParsedDocument, list[float]]:
    shares: list[float] = []
    context = ParseContext(ocr=text_reader, progress=shares.append)
    return parse(scanned_pdf, filename="log.pdf", context=context), shares


def test_a_scanned_page_is_read_with_its_page_region_and_thumbnail(
    read_with_ocr: tuple[ParsedDocument, list[float]],
) -> None:
    document, _ = read_with_ocr
    [scanned] = [e for e in document.elements if e.page == 2]
    assert scanned.text == SCANNED_SENTENCE
    assert scanned.source is TextSource.OCR
    # The picture lies at (10, 20) mm and is 180 x 45 mm; the text fills its upper part.
    assert scanned.region is not None
    left, top, right, bottom = scanned.region
    assert mm_to_points(10) <= left < mm_to_points(30)
    assert mm_to_points(20) <= top < mm_to_points(30)
    assert right <= mm_to_points(190)
    assert bottom <= mm_to_points(65)
    assert scanned.thumbnail in document.assets
    with Image.open(io.BytesIO(document.assets[scanned.thumbnail])) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) == 320
        assert thumb.size[0] == round(320 * A4_POINTS[0] / A4_POINTS[1])


def test_pages_with_text_keep_it_and_their_pictures_are_read_after_it(
    read_with_ocr: tuple[ParsedDocument, list[float]],
) -> None:
    document, shares = read_with_ocr
    assert [(e.page, e.source, e.text) for e in document.elements] == [
        (1, TextSource.TEXT, "Maintenance log. The pumps of the eastern station were inspected."),
        (2, TextSource.OCR, SCANNED_SENTENCE),
        (3, TextSource.TEXT, "Floor plan. The sign below hangs at the stairwell door."),
        (3, TextSource.OCR, SIGN_TEXT),
    ]
    sign = document.elements[-1]
    assert sign.region is not None
    assert mm_to_points(60) <= sign.region[1] < sign.region[3] <= mm_to_points(78)
    assert sign.thumbnail in document.assets
    assert sign.thumbnail != document.elements[1].thumbnail
    assert document.elements[0].thumbnail is None  # text-layer elements have no anchor
    assert document.thumbnail in document.assets  # the first page, as the file's preview
    assert document.metadata == {"ocr_pages": 1, "ocr_pictures": 1}
    assert shares == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_without_ocr_text_pages_are_unchanged(scanned_pdf: Path) -> None:
    document = parse_file(scanned_pdf, filename="log.pdf")
    assert [(e.page, e.source) for e in document.elements] == [
        (1, TextSource.TEXT),
        (3, TextSource.TEXT),
    ]
    assert document.metadata == {"pages_without_text": 1}


def test_a_scan_under_its_own_text_layer_is_not_read_again(
    tmp_path: Path, text_reader: RapidTextReader
) -> None:
    pdf = FPDF()
    pdf.add_page()
    scan = text_image(["The corroded valve was replaced"], size=(1200, 160), font_size=44)
    pdf.image(scan, x=10, y=20, w=180)
    pdf.text_mode = TextMode.INVISIBLE  # a scanner's "searchable PDF" text layer
    pdf.set_font("Helvetica", size=20)
    pdf.set_xy(12, 24)
    pdf.cell(text="The corroded valve was replaced")
    path = tmp_path / "searchable.pdf"
    path.write_bytes(bytes(pdf.output()))
    reader = RecordingReader(text_reader)
    document = parse(path, filename="searchable.pdf", context=ParseContext(ocr=reader))
    assert reader.sizes == []
    assert [(e.source, e.text) for e in document.elements] == [
        (TextSource.TEXT, "The corroded valve was replaced")
    ]


def test_a_blank_scan_read_by_ocr_still_fails_with_a_reason(
    tmp_path: Path, text_reader: RapidTextReader
) -> None:
    pdf = FPDF(format=(120, 90))  # small: a blank page still goes through detection
    pdf.add_page()
    pdf.rect(10, 10, 100, 60, style="F")  # stands in for a scanned picture without text
    path = tmp_path / "blank.pdf"
    path.write_bytes(bytes(pdf.output()))
    with pytest.raises(IngestError) as caught:
        parse(path, filename="blank.pdf", context=ParseContext(ocr=text_reader))
    assert caught.value.message == NO_TEXT_AFTER_OCR_REASON


def test_page_renders_stay_within_the_pixel_limit(
    scanned_pdf: Path, text_reader: RapidTextReader
) -> None:
    reader = RecordingReader(text_reader)
    context = ParseContext(ocr=reader, limits=ParseLimits(max_image_pixels=400_000))
    document = parse(scanned_pdf, filename="log.pdf", context=context)
    page_render, sign = reader.sizes
    assert page_render[0] * page_render[1] <= 400_000
    # Embedded pictures are read at their own resolution (1000 x 120, give or take PDFium's
    # rounding), whatever the page render's.
    assert abs(sign[0] - 1000) <= 2
    assert abs(sign[1] - 120) <= 2
    assert SCANNED_SENTENCE in [e.text for e in document.elements]


def test_file_size_limit_applies_before_reading(scanned_pdf: Path) -> None:
    context = ParseContext(limits=ParseLimits(max_bytes=100))
    with pytest.raises(IngestError, match="over the 100 bytes limit"):
        parse(scanned_pdf, filename="log.pdf", context=context)
