from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from mmstack.errors import IngestError
from mmstack.ingest.document import ElementKind, TextSource
from mmstack.ingest.parsers import ParseContext, ParseLimits, parse_file
from mmstack.ingest.parsers.image import parse
from mmstack.models.ocr import RapidTextReader
from tests.media.test_images import camera_jpeg
from tests.pictures import RecordingReader, encode, png_header_only, sample, text_image


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def notice(tmp_path: Path) -> Path:
    """A notice with a title, a two-line paragraph and a footer line far below."""
    image = text_image([], size=(1000, 600))
    for lines, at, size in (
        (["Water notice"], (40, 30), 56),
        (
            ["The board approved the budget for", "the treatment plant in Valparaiso."],
            (40, 140),
            32,
        ),
        (["Printed 3 March"], (620, 520), 28),
    ):
        image.paste(text_image(lines, size=(940, 120), font_size=size, at=(0, 0)), at)
    return write(tmp_path, "notice.png", encode(image, "PNG"))


def test_text_in_a_picture_becomes_ocr_paragraphs_with_regions(
    tmp_path: Path, text_reader: RapidTextReader
) -> None:
    shares: list[float] = []
    context = ParseContext(ocr=text_reader, progress=shares.append)
    document = parse(notice(tmp_path), filename="notice.png", context=context)

    assert [e.text for e in document.elements] == [
        "Water notice",
        "The board approved the budget for the treatment plant in Valparaiso.",
        "Printed 3 March",
    ]
    title, paragraph, footer = document.elements
    assert all(e.kind is ElementKind.PARAGRAPH for e in document.elements)
    assert all(e.source is TextSource.OCR for e in document.elements)
    assert title.region is not None
    assert paragraph.region is not None
    assert footer.region is not None
    assert 25 <= title.region[1] <= 45  # drawn at y=30
    assert 130 <= paragraph.region[1] < 150 < 190 <= paragraph.region[3] <= 240
    assert footer.region[0] >= 600  # drawn at x=620
    key = document.thumbnail
    assert key is not None
    assert set(document.assets) == {key}
    assert all(e.thumbnail == key for e in document.elements)
    with Image.open(io.BytesIO(document.assets[key])) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) == 320
    assert document.media_type == "image/png"
    assert document.metadata["width"] == 1000
    assert len(document.metadata["perceptual_hash"]) == 16
    assert shares[-1] == 1.0


def test_a_large_picture_is_read_shrunk_with_regions_in_its_own_pixels(
    tmp_path: Path, text_reader: RapidTextReader
) -> None:
    small = Image.open(notice(tmp_path))
    large = small.resize((4000, 2400), Image.Resampling.NEAREST)  # four times the notice
    path = write(tmp_path, "large.png", encode(large, "PNG"))
    document = parse(path, filename="large.png", context=ParseContext(ocr=text_reader))
    assert [e.text for e in document.elements] == [
        "Water notice",
        "The board approved the budget for the treatment plant in Valparaiso.",
        "Printed 3 March",
    ]
    title, paragraph, footer = (e.region or (0, 0, 0, 0) for e in document.elements)
    assert 100 <= title[1] <= 180  # drawn at y=4 x 30
    assert 520 <= paragraph[1] < 600 < 760 <= paragraph[3] <= 960
    assert 2400 <= footer[0] < footer[2] <= 4000  # drawn at x=4 x 620
    assert footer[3] <= 2400
    assert document.metadata["width"] == 4000


def test_picture_without_text_is_described_so_it_can_be_found(
    tmp_path: Path, text_reader: RapidTextReader
) -> None:
    path = write(tmp_path, "coffee.png", encode(sample("coffee"), "PNG"))
    document = parse(path, filename="coffee.png", context=ParseContext(ocr=text_reader))
    assert [e.text for e in document.elements] == ["Image coffee.png, 600 x 400 pixels."]
    assert document.elements[0].source is TextSource.TEXT
    assert document.elements[0].thumbnail == document.thumbnail


def test_without_ocr_the_description_has_date_and_camera(tmp_path: Path) -> None:
    path = write(tmp_path, "IMG_0042.jpg", camera_jpeg(6))
    document = parse(path, filename="IMG_0042.jpg", context=ParseContext())
    assert [e.text for e in document.elements] == [
        "Image IMG_0042.jpg, 100 x 200 pixels, taken 2024-05-01 12:30, camera Canon EOS 5D."
    ]
    assert document.metadata["taken_at"] == "2024-05-01T12:30:05"


def test_tiny_images_skip_ocr(tmp_path: Path, text_reader: RapidTextReader) -> None:
    reader = RecordingReader(text_reader)
    path = write(tmp_path, "icon.png", encode(Image.new("RGB", (12, 12), "red"), "PNG"))
    document = parse(path, filename="icon.png", context=ParseContext(ocr=reader))
    assert reader.sizes == []
    assert [e.text for e in document.elements] == ["Image icon.png, 12 x 12 pixels."]


def test_media_type_is_the_actual_format_and_the_dispatcher_routes_images(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "photo.jpg", encode(sample("chelsea"), "PNG"))
    document = parse_file(path, filename="photo.jpg")
    assert document.media_type == "image/png"
    assert document.metadata["format"] == "PNG"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (png_header_only(50_000, 50_000), "image is 50000x50000 pixels"),
        (encode(Image.new("RGB", (300, 300)), "PNG")[:200], "image is truncated or corrupt"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image"),
    ],
)
def test_bad_files_fail_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = write(tmp_path, "bad.png", content)
    with pytest.raises(IngestError) as caught:
        parse(path, filename="bad.png", context=ParseContext())
    assert caught.value.message.startswith(reason)


def test_limits_from_the_context_apply(tmp_path: Path) -> None:
    path = write(tmp_path, "big.png", encode(sample("astronaut"), "PNG"))
    small = ParseContext(limits=ParseLimits(max_image_pixels=100_000))
    with pytest.raises(IngestError) as caught:
        parse(path, filename="big.png", context=small)
    assert caught.value.message == (
        "image is 512x512 pixels (0.3 megapixels), over the limit of 0.1 megapixels"
    )
    tiny_files = ParseContext(limits=ParseLimits(max_bytes=1000))
    with pytest.raises(IngestError, match=r"over the 1000 bytes limit"):
        parse(path, filename="big.png", context=tiny_files)
