"""Pictures read safely with Pillow: size checked before decoding, upright, RGB, described.

Only the formats mmstack ingests are tried (PNG, JPEG, WebP, TIFF, GIF), never the rest of
Pillow's plugins (EPS alone would start Ghostscript). The declared size is checked against
`max_pixels` before any pixel is decoded.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import imagehash
import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps

from mmstack.errors import IngestError
from mmstack.media.detect import (
    IMAGE_GIF,
    IMAGE_JPEG,
    IMAGE_PNG,
    IMAGE_TIFF,
    IMAGE_WEBP,
)

# Pillow format name -> media type. MPO is the multi-picture JPEG many cameras write.
FORMAT_MEDIA_TYPES: Final[dict[str, str]] = {
    "PNG": IMAGE_PNG,
    "JPEG": IMAGE_JPEG,
    "MPO": IMAGE_JPEG,
    "WEBP": IMAGE_WEBP,
    "TIFF": IMAGE_TIFF,
    "GIF": IMAGE_GIF,
}
_OPENERS: Final = ("PNG", "JPEG", "WEBP", "TIFF", "GIF")  # MPO comes from JPEG's opener

_EXIF_DATE_FORMAT = "%Y:%m:%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """A decoded picture: upright, first frame only, grey (L) or RGB."""

    image: Image.Image
    media_type: str
    metadata: dict[str, Any]
    """width and height (upright), format, and when known: animated, taken_at (ISO 8601,
    the camera's local time), camera_make, camera_model."""


def load_image(path: Path, *, max_pixels: int) -> LoadedImage:
    """Open, check and decode the image at `path`; every failure is an `IngestError`."""
    with path.open("rb") as handle:
        try:
            source = _identify(handle, path.name)
            width, height = source.size
            if width * height > max_pixels:
                raise IngestError(
                    f"image is {width}x{height} pixels ({_megapixels(width * height)} "
                    f"megapixels), over the limit of {_megapixels(max_pixels)} megapixels"
                )
            metadata = _describe(source)
            source.seek(0)  # the first frame of an animation or a multi-page TIFF
            source.load()
            # Turned in place, and greys kept grey: a copy of 64 megapixels in RGB is 192 MB.
            ImageOps.exif_transpose(source, in_place=True)
            image = flatten(source)
        except Image.DecompressionBombError as exc:
            raise IngestError(f"image is too large to decode safely ({exc})") from None
        except _DECODE_ERRORS as exc:
            raise IngestError(f"image is truncated or corrupt ({exc})") from None
    metadata["width"], metadata["height"] = image.size
    return LoadedImage(image, FORMAT_MEDIA_TYPES[str(source.format)], metadata)


# What Pillow raises for a truncated or corrupt picture.
_DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)
# The most pixels an upload request decodes (about 64 MB as RGBA), and the side a JPEG is
# scaled towards (ample for the hash's 32 x 32).
UPLOAD_HASH_PIXELS: Final = 16_000_000
_UPLOAD_HASH_SIDE: Final = 256
_upload_decodes = threading.BoundedSemaphore(1)


def upload_hash(path: Path, *, max_pixels: int) -> str | None:
    """The perceptual hash of the picture at `path`, decoded in bounded memory (this runs
    in the upload request): one picture at a time, a JPEG scaled down as it is decoded
    (to 1/8, its decoder's own step), another format only up to `UPLOAD_HASH_PIXELS`.
    None when it cannot be hashed that way, or does not decode (its ingestion says why).

    A picture of 100 megapixels decoded whole takes hundreds of megabytes; a few uploads
    at once would take the server down.
    """
    with _upload_decodes, path.open("rb") as handle:
        try:
            source = _identify(handle, path.name)
            pixels = source.size[0] * source.size[1]
            if pixels > max_pixels:
                return None
            source.seek(0)
            if source.format in ("JPEG", "MPO"):
                source.draft("RGB", (_UPLOAD_HASH_SIDE, _UPLOAD_HASH_SIDE))
            elif pixels > UPLOAD_HASH_PIXELS:
                return None
            source.load()
            return perceptual_hash(flatten(ImageOps.exif_transpose(source)))
        except (IngestError, Image.DecompressionBombError, *_DECODE_ERRORS):
            return None


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f}" if pixels >= 10_000_000 else f"{pixels / 1e6:.1f}"


def _identify(handle: io.BufferedReader, name: str) -> ImageFile.ImageFile:
    """The image whose header `handle` starts with; nothing is decoded yet.

    Pillow's own `Image.open` does the same but checks the size against its process-wide
    `MAX_IMAGE_PIXELS` first, so the error could not name the dimensions.
    """
    Image.init()  # the format registry, filled on first use
    prefix = handle.read(16)
    if not prefix:
        raise IngestError("file is empty")
    for name_of_format in _OPENERS:
        factory, accept = Image.OPEN[name_of_format]
        if accept is not None and not accept(prefix):
            continue
        handle.seek(0)
        try:
            return factory(handle, name)
        except (SyntaxError, IndexError, TypeError, struct.error) as exc:
            raise IngestError(f"image header is corrupt ({exc})") from None
    raise IngestError("not a supported image (PNG, JPEG, WebP, TIFF or GIF)")


def _describe(image: ImageFile.ImageFile) -> dict[str, Any]:
    metadata: dict[str, Any] = {"format": image.format}
    if getattr(image, "is_animated", False):
        metadata["animated"] = True
    try:
        exif = image.getexif()
    except (OSError, SyntaxError, ValueError, struct.error):
        return metadata  # a broken EXIF block does not make the picture unreadable
    details = exif.get_ifd(ExifTags.IFD.Exif)
    taken = details.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if taken_at := _exif_date(taken):
        metadata["taken_at"] = taken_at
    for key, tag in (("camera_make", ExifTags.Base.Make), ("camera_model", ExifTags.Base.Model)):
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and (text := " ".join(value.replace("\x00", " ").split())):
            metadata[key] = text
    return metadata


def _exif_date(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 "), _EXIF_DATE_FORMAT).isoformat()
    except ValueError:
        return None


def flatten(image: Image.Image) -> Image.Image:
    """Eight-bit pixels, grey (L) for a grey picture and RGB for any other; transparency
    becomes white (dark text on a transparent background stays readable) and 16-bit or
    float greys are scaled to 8 bits. Never a copy in RGBA: 64 megapixels are 256 MB so."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        return Image.fromarray(scaled.astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBa", "La"):  # premultiplied
        image = image.convert(image.mode.upper())
    if image.mode in ("RGBA", "LA", "PA"):
        grey = image.mode == "LA"
        flat = Image.new("L" if grey else "RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("L" if image.mode == "1" else "RGB")


READ_MAX_SIDE: Final = 2000
"""The longest side of a picture the models that read it work on (OCR's working size; the
vision model's is smaller): a larger picture is shrunk to it before they see it."""


def shrunk_for_reading(image: Image.Image) -> tuple[Image.Image, float]:
    """`image` at most `READ_MAX_SIDE` pixels a side, resized as OCR would resize it, and
    the scale applied (1.0: the picture itself)."""
    width, height = image.size
    if max(width, height) <= READ_MAX_SIDE:
        return image, 1.0
    scale = READ_MAX_SIDE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC), scale


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels, as `flatten` makes them."""
    flat = flatten(image)
    return flat if flat.mode == "RGB" else flat.convert("RGB")


def thumbnail_bytes(image: Image.Image, max_side: int = 320) -> bytes:
    """A JPEG preview whose longer side is at most `max_side` pixels."""
    # A new small image, never a copy of the whole picture (300 MB for 100 megapixels).
    preview = image
    if max(image.size) > max_side:
        preview = ImageOps.contain(image, (max_side, max_side), Image.Resampling.LANCZOS)
    if preview.mode != "RGB":
        preview = preview.convert("RGB")
    out = io.BytesIO()
    preview.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()


def asset_key(data: bytes) -> str:
    """The key of a derived image in `ParsedDocument.assets`: the sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


def perceptual_hash(image: Image.Image) -> str:
    """A 64-bit DCT hash (hex) that stays close for resized or re-encoded copies."""
    return str(imagehash.phash(image))


def hash_distance(first: str, second: str) -> int:
    """How many of the 64 bits two perceptual hashes differ in (0: the same picture)."""
    return int(imagehash.hex_to_hash(first) - imagehash.hex_to_hash(second))
