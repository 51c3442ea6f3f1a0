from __future__ import annotations

import itertools
import time

import pytest
from PIL import ImageDraw, ImageFont

from mmstack.models.contracts import TextLine
from mmstack.models.ocr import (
    _BAND_OVERLAP,
    _BAND_PIXELS,
    DEFAULT_MIN_SCORE,
    RapidTextReader,
    _bands,
    reading_order,
)
from tests.pictures import session_text_reader, text_image


@pytest.fixture(scope="session")
def reader(tmp_path_factory: pytest.TempPathFactory) -> RapidTextReader:
    return session_text_reader(tmp_path_factory)


def test_reads_rendered_lines_with_their_spaces_boxes_and_order(reader: RapidTextReader) -> None:
    image = text_image(
        ["The quick brown fox jumps", "over the lazy dog near Lisbon."], size=(900, 240)
    )
    font = ImageFont.load_default(size=36)
    ImageDraw.Draw(image).text((560, 170), "Invoice 4711", font=font, fill="black")
    started = time.perf_counter()
    lines = reader.read(image)
    elapsed = time.perf_counter() - started
    print(f"OCR of a 900x240 image: {elapsed:.2f} s")
    assert [line.text for line in lines] == [
        "The quick brown fox jumps",
        "over the lazy dog near Lisbon.",
        "Invoice 4711",
    ]
    for line in lines:
        left, top, right, bottom = line.box
        assert all(isinstance(v, int) for v in line.box)
        assert 0 <= left < right <= 900
        assert 0 <= top < bottom <= 240
        assert DEFAULT_MIN_SCORE <= line.score <= 1
    first, second, third = (line.box for line in lines)
    assert first[1] < 50 < first[3]  # drawn from y=30, 36 px high
    assert first[3] <= second[3] <= third[1] + 20
    assert third[0] >= 540  # drawn from x=560


def test_blank_and_non_rgb_images(reader: RapidTextReader) -> None:
    assert reader.read(text_image([], size=(400, 200))) == []
    # A short line on its own, black on transparent: enlarged (at most twice) before
    # detection, and read on white.
    label = text_image(
        ["Transparent labels read fine"], mode="RGBA", size=(600, 100), background=(0, 0, 0, 0)
    )
    assert [line.text for line in reader.read(label)] == ["Transparent labels read fine"]


def test_upright_lines_are_not_turned_upside_down(reader: RapidTextReader) -> None:
    # With RapidOCR's angle classifier on, the last line is read as upside down and comes
    # out as "Linhe e e :e ue.".
    lines = [
        f"Line {i}: the committee reviewed item number {i * 37} and approved the schedule."
        for i in (7, 9, 27, 31)
    ]
    image = text_image(lines, size=(1000, 200), font_size=26, at=(20, 20))
    assert [line.text for line in reader.read(image)] == lines


def test_boxes_of_a_large_image_are_in_its_own_pixels(reader: RapidTextReader) -> None:
    # 3000 px wide: read at 2000, boxes mapped back.
    image = text_image(["Boxes map back"], size=(3000, 300), font_size=60, at=(2000, 120))
    [line] = reader.read(image)
    assert line.text == "Boxes map back"
    left, top, right, bottom = line.box
    assert 1980 <= left <= 2010
    assert 100 <= top <= 135
    assert right <= 3000
    assert 170 <= bottom <= 215  # 60 px glyphs with descenders, from y=120


def test_a_large_page_is_read_in_bands_each_line_once(reader: RapidTextReader) -> None:
    """A page of 4 megapixels at the working size is read in six overlapping bands (its
    detection would take some 800 MB at once); lines across a band's edge are read whole,
    once, where they are."""
    texts = [f"Row {i:02d} of the ledger: {i * 1117} units shipped" for i in range(19)]
    image = text_image(texts, size=(2000, 2000), font_size=48, at=(40, 40), spacing=2.1)
    assert len(_bands(2000, 2000)) == 6
    lines = reader.read(image)
    assert [line.text for line in lines] == texts
    for i, line in enumerate(lines):
        top = 40 + i * round(48 * 2.1)
        assert abs(line.box[1] - top) <= 15, (line.text, line.box)


@pytest.mark.parametrize(("height", "width"), [(2000, 2000), (2000, 1414), (990, 2000), (300, 900)])
def test_bands_cover_the_page_within_their_budget(height: int, width: int) -> None:
    bands = _bands(height, width)
    assert bands[0].top == 0
    assert bands[-1].bottom == height
    for band in bands:
        assert (band.bottom - band.top) * width <= max(_BAND_PIXELS, 2 * _BAND_OVERLAP * width)
    for before, after in itertools.pairwise(bands):
        assert before.bottom - after.top >= _BAND_OVERLAP
        # Every row belongs to exactly one band's keeping range, inside both bands.
        assert before.keep_to == after.keep_from
        assert after.top + _BAND_OVERLAP / 2 <= before.keep_to <= before.bottom - _BAND_OVERLAP / 2


def test_reading_order_rows_then_left_to_right() -> None:
    right = TextLine("right", (300, 12, 400, 40), 0.9)
    left = TextLine("left", (10, 10, 100, 38), 0.9)
    below = TextLine("below", (10, 60, 100, 88), 0.9)
    assert [line.text for line in reading_order([below, right, left])] == [
        "left",
        "right",
        "below",
    ]
