from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from mmstack.errors import IngestError
from mmstack.media.images import (
    asset_key,
    flatten,
    hash_distance,
    load_image,
    perceptual_hash,
    thumbnail_bytes,
    upload_hash,
)
from tests.pictures import encode, png_header_only, sample, text_image

LIMIT = 100_000_000


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def fails(path: Path, max_pixels: int = LIMIT) -> str:
    with pytest.raises(IngestError) as caught:
        load_image(path, max_pixels=max_pixels)
    return caught.value.message


def camera_jpeg(orientation: int) -> bytes:
    """200x100, red left half and blue right half, as a camera would write it: the pixels
    stored sideways and the EXIF orientation saying how to turn them."""
    pixels = np.zeros((100, 200, 3), dtype=np.uint8)
    pixels[:, :100] = (255, 0, 0)
    pixels[:, 100:] = (0, 0, 255)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS 5D"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:01 12:30:05"
    return encode(Image.fromarray(pixels), "JPEG", exif=exif.tobytes(), quality=95)


def test_png_is_loaded_as_rgb_with_its_size_and_format(tmp_path: Path) -> None:
    path = write(tmp_path, "a.png", encode(sample("astronaut"), "PNG"))
    loaded = load_image(path, max_pixels=LIMIT)
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (512, 512)
    assert loaded.media_type == "image/png"
    assert loaded.metadata == {"format": "PNG", "width": 512, "height": 512}


def test_exif_orientation_date_and_camera(tmp_path: Path) -> None:
    # Orientation 6: the stored pixels must be turned 90 degrees clockwise to be upright.
    loaded = load_image(write(tmp_path, "c.jpg", camera_jpeg(6)), max_pixels=LIMIT)
    assert loaded.image.size == (100, 200)
    top, bottom = loaded.image.getpixel((50, 20)), loaded.image.getpixel((50, 180))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 200 > top[2]  # red, from the stored left half, now on top
    assert bottom[2] > 200 > bottom[0]
    assert loaded.media_type == "image/jpeg"
    assert loaded.metadata == {
        "format": "JPEG",
        "width": 100,
        "height": 200,
        "taken_at": "2024-05-01T12:30:05",
        "camera_make": "Canon",
        "camera_model": "Canon EOS 5D",
    }


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ("red", "lime", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(write(tmp_path, "a.gif", out.getvalue()), max_pixels=LIMIT)
    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((10, 10)) == (255, 0, 0)
    assert loaded.media_type == "image/gif"
    assert loaded.metadata["animated"] is True


def test_transparency_becomes_white_so_dark_text_stays_readable(tmp_path: Path) -> None:
    image = text_image(["Label"], size=(200, 80), mode="RGBA", background=(0, 0, 0, 0))
    loaded = load_image(write(tmp_path, "t.png", encode(image, "PNG")), max_pixels=LIMIT)
    assert loaded.image.getpixel((2, 2)) == (255, 255, 255)
    assert np.asarray(loaded.image.convert("L")).min() < 50  # the black text is still there


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("RGBA", (200, 0, 0, 128), (227, 127, 127)),
        ("LA", (0, 64), 191),
        ("RGBa", (100, 0, 0, 128), (227, 127, 127)),  # premultiplied: 100 is 200 at 50 %
    ],
)
def test_half_transparent_pixels_are_laid_on_white(
    mode: str, colour: tuple[int, ...], expected: object
) -> None:
    flat = flatten(Image.new(mode, (4, 4), colour))
    assert flat.mode == ("L" if mode == "LA" else "RGB")
    got = flat.getpixel((1, 1))
    values = got if isinstance(got, tuple) else (got,)
    wanted = expected if isinstance(expected, tuple) else (expected,)
    assert all(abs(a - b) <= 1 for a, b in zip(values, wanted, strict=True)), got
    palette = Image.new("P", (4, 4), 0)
    palette.info["transparency"] = 0
    assert flatten(palette).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_grey_is_scaled_to_eight_bits(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (32, 1))
    path = write(tmp_path, "g.png", encode(Image.fromarray(ramp), "PNG"))
    loaded = load_image(path, max_pixels=LIMIT)
    assert loaded.image.mode == "L"  # grey stays grey (a third of the memory of RGB)
    assert loaded.image.getpixel((0, 0)) == 0
    assert loaded.image.getpixel((255, 0)) == 255


def test_webp_and_tiff(tmp_path: Path) -> None:
    picture = sample("coffee")
    for fmt, media_type in (("WEBP", "image/webp"), ("TIFF", "image/tiff")):
        loaded = load_image(write(tmp_path, f"c.{fmt}", encode(picture, fmt)), max_pixels=LIMIT)
        assert loaded.media_type == media_type
        assert loaded.image.size == picture.size


def test_image_bomb_is_refused_by_its_declared_size_without_decoding(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.png", png_header_only(50_000, 50_000))
    started = time.perf_counter()
    message = fails(path)
    assert message == (
        "image is 50000x50000 pixels (2500 megapixels), over the limit of 100 megapixels"
    )
    assert time.perf_counter() - started < 1  # 7.5 GB of RGB were never allocated


def test_pixel_limit_is_the_configured_one(tmp_path: Path) -> None:
    path = write(tmp_path, "a.png", encode(Image.new("RGB", (4000, 3000)), "PNG"))
    assert fails(path, max_pixels=10_000_000) == (
        "image is 4000x3000 pixels (12 megapixels), over the limit of 10 megapixels"
    )


def test_pillow_decompression_bomb_error_is_an_ingest_error(tmp_path: Path) -> None:
    # A GIF whose 10x10 screen holds a 20000x20000 frame: Pillow itself refuses it.
    screen = b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, 20_000, 20_000, 0) + b"\x02\x02\x4c\x01\x00;"
    message = fails(write(tmp_path, "bomb.gif", screen + frame))
    assert message.startswith("image is too large to decode safely")


def test_truncated_and_corrupt_images(tmp_path: Path) -> None:
    png = encode(sample("astronaut"), "PNG")
    jpeg = encode(sample("astronaut"), "JPEG")
    assert fails(write(tmp_path, "cut.png", png[: len(png) // 2])).startswith(
        "image is truncated or corrupt"
    )
    assert fails(write(tmp_path, "cut.jpg", jpeg[: len(jpeg) // 2])).startswith(
        "image is truncated or corrupt"
    )
    garbage = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    assert fails(write(tmp_path, "bad.png", garbage)).startswith("image")


def test_empty_and_non_image_files(tmp_path: Path) -> None:
    assert fails(write(tmp_path, "empty.png", b"")) == "file is empty"
    assert fails(write(tmp_path, "note.png", b"just some text, not a picture")) == (
        "not a supported image (PNG, JPEG, WebP, TIFF or GIF)"
    )
    # Pillow reads EPS by running Ghostscript: never tried.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    assert fails(write(tmp_path, "x.png", eps)).startswith("not a supported image")


def test_thumbnail_is_a_small_jpeg_keyed_by_its_sha256() -> None:
    picture = sample("coffee")  # 600x400
    thumb = thumbnail_bytes(picture)
    with Image.open(io.BytesIO(thumb)) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.size == (320, 213)
    assert asset_key(thumb) == hashlib.sha256(thumb).hexdigest()
    assert picture.size == (600, 400)  # the original is left alone


def test_perceptual_hash_finds_copies_and_tells_pictures_apart() -> None:
    astronaut = sample("astronaut")
    copy = Image.open(io.BytesIO(encode(astronaut.resize((256, 256)), "JPEG", quality=60)))
    cat = sample("chelsea")
    original = perceptual_hash(astronaut)
    assert len(original) == 16
    assert hash_distance(original, perceptual_hash(copy)) <= 4
    assert hash_distance(original, perceptual_hash(cat)) >= 20
    assert hash_distance(original, original) == 0


def test_upload_hash_scales_a_jpeg_down_as_it_decodes(tmp_path: Path) -> None:
    """In the upload request a big JPEG is decoded at 1/8 of its size, and hashes within
    the duplicate distance of the whole picture."""
    astronaut = sample("astronaut").resize((4096, 4096))
    path = write(tmp_path, "big.jpg", encode(astronaut, "JPEG", quality=90))
    whole = perceptual_hash(load_image(path, max_pixels=LIMIT).image)
    scaled = upload_hash(path, max_pixels=LIMIT)
    assert scaled is not None
    assert hash_distance(whole, scaled) <= 4
    cat = write(tmp_path, "cat.png", encode(sample("chelsea"), "PNG"))
    assert hash_distance(scaled, upload_hash(cat, max_pixels=LIMIT) or "0" * 16) >= 20


def test_upload_hash_does_not_decode_what_it_cannot_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PNG of 9,990 x 9,990 pixels (a few hundred KB, about 300 MB decoded) is not decoded
    in the upload request; nor is anything over the pixel limit, or broken."""
    bomb = write(tmp_path, "bomb.png", encode(Image.new("L", (9990, 9990), 255), "PNG"))
    assert bomb.stat().st_size < 1_000_000
    decoded: list[str] = []
    original = Image.Image.load

    def recording_load(image: Image.Image) -> object:
        decoded.append(image.format or "")
        return original(image)

    big_jpeg = write(tmp_path, "huge.jpg", encode(Image.new("L", (5000, 5000), 128), "JPEG"))
    with monkeypatch.context() as patched:
        patched.setattr(Image.Image, "load", recording_load)
        assert upload_hash(bomb, max_pixels=LIMIT) is None
        assert upload_hash(big_jpeg, max_pixels=1_000_000) is None  # over the limit given
    assert decoded == []
    assert (
        upload_hash(write(tmp_path, "bad.png", b"\x89PNG\r\n\x1a\n" + b"0" * 40), max_pixels=LIMIT)
        is None
    )
    small = write(tmp_path, "small.png", encode(sample("chelsea"), "PNG"))
    assert upload_hash(small, max_pixels=LIMIT) == perceptual_hash(
        load_image(small, max_pixels=LIMIT).image
    )


def test_upload_hash_works_as_the_first_use_of_pillow_in_a_process(tmp_path: Path) -> None:
    """In a fresh server, an upload's hash was the first thing to read a picture: Pillow's
    format registry was still empty and every picture upload was a 500."""
    small = write(tmp_path, "small.png", encode(sample("chelsea"), "PNG"))
    code = (
        "import sys; from pathlib import Path; "
        "from mmstack.media.images import upload_hash; "
        "print(upload_hash(Path(sys.argv[1]), max_pixels=10**8))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code, str(small)], capture_output=True, text=True, check=True
    )
    assert fresh.stdout.strip() == perceptual_hash(load_image(small, max_pixels=LIMIT).image)
