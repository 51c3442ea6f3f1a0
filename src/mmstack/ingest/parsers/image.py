"""Pictures: the text OCR reads in them, in paragraphs with their boxes, and a thumbnail.

A picture without text (read without OCR, or where OCR found only a few characters) also
gets one short element describing it, its name, size, date taken and camera, so a search
can find it. With a describer (a vision model, off by default), its description of the
picture comes first, as a caption. Blocks of a single character are dropped: on
photographs they are mostly textures read as text.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ElementKind, ParsedDocument, Region, TextSource
from mmstack.ingest.parsers.ocr_layout import ocr_elements
from mmstack.media.images import (
    LoadedImage,
    asset_key,
    load_image,
    perceptual_hash,
    shrunk_for_reading,
    thumbnail_bytes,
)
from mmstack.models.contracts import DescriberError

from .context import ParseContext

MIN_OCR_SIDE = 16
"""Images narrower or shorter than this (pixels) hold no line OCR can read; skip it."""
_MIN_BLOCK_CHARS = 2  # OCR blocks with fewer letters or digits are mostly textures read as text
_MIN_TEXT_CHARS = 5  # with fewer letters or digits read in all, the picture is described too


@dataclass(frozen=True, slots=True)
class _Decoded:
    loaded: LoadedImage
    """Its image shrunk for reading (`shrunk_for_reading`), its metadata the picture's."""
    scale: float  # of that image against the picture
    preview: bytes  # the thumbnail


def parse(path: Path, *, filename: str, context: ParseContext) -> ParsedDocument:
    context.limits.check_size(path.stat().st_size)
    limits = context.limits
    decoded = context.decoder.call(_decode, path, max_pixels=limits.max_image_pixels)
    loaded, preview = decoded.loaded, decoded.preview
    image, metadata = loaded.image, loaded.metadata
    key = asset_key(preview)
    elements: list[Element] = []
    if context.ocr is not None and min(image.size) >= MIN_OCR_SIDE:
        to_picture = _scaled(1 / decoded.scale, metadata["width"], metadata["height"])
        lines = context.ocr.read(image)
        blocks = ocr_elements(lines, thumbnail=key, transform=to_picture)
        elements = [e for e in blocks if _letters_and_digits(e.text) >= _MIN_BLOCK_CHARS]
        metadata["ocr"] = True
    if len(elements) > limits.max_elements:
        raise IngestError(f"image has more than {limits.max_elements} text blocks, over the limit")
    if context.describer is not None:
        try:
            caption = context.describer.describe(image).strip()
        except DescriberError as exc:
            metadata["caption_error"] = str(exc)
        else:
            if caption:
                metadata["caption"] = caption
                elements.insert(
                    0,
                    Element(
                        ElementKind.PARAGRAPH, caption, source=TextSource.CAPTION, thumbnail=key
                    ),
                )
    if sum(_letters_and_digits(e.text) for e in elements) < _MIN_TEXT_CHARS:
        description = Element(ElementKind.PARAGRAPH, describe(filename, metadata), thumbnail=key)
        elements.insert(0, description)
    context.progress(1.0)
    return ParsedDocument(
        media_type=loaded.media_type,
        elements=elements,
        metadata=metadata,
        assets={key: preview},
        thumbnail=key,
    )


def _decode(path: Path, *, max_pixels: int) -> _Decoded:
    """The decoding, which a `Decoder` may run in a helper process: the models get the
    picture no larger than they read it, so it need not cross whole."""
    loaded = load_image(path, max_pixels=max_pixels)
    loaded.metadata["perceptual_hash"] = perceptual_hash(loaded.image)
    preview = thumbnail_bytes(loaded.image)
    image, scale = shrunk_for_reading(loaded.image)
    return _Decoded(dataclasses.replace(loaded, image=image), scale, preview)


def _scaled(factor: float, width: int, height: int) -> Callable[[Region], Region] | None:
    """Boxes in the image read mapped onto the picture's pixels (None: the same)."""
    if factor == 1:
        return None

    def to_picture(box: Region) -> Region:
        left, top, right, bottom = box
        return (
            min(math.floor(left * factor), width),
            min(math.floor(top * factor), height),
            min(math.ceil(right * factor), width),
            min(math.ceil(bottom * factor), height),
        )

    return to_picture


def describe(filename: str, metadata: dict[str, object]) -> str:
    """One sentence saying what the picture is, from its name and metadata."""
    parts = [f"Image {filename}", f"{metadata['width']} x {metadata['height']} pixels"]
    if isinstance(taken := metadata.get("taken_at"), str):
        parts.append(f"taken {datetime.fromisoformat(taken):%Y-%m-%d %H:%M}")
    make, model = str(metadata.get("camera_make", "")), str(metadata.get("camera_model", ""))
    camera = model if make and model.lower().startswith(make.lower()) else f"{make} {model}"
    if camera := camera.strip():
        parts.append(f"camera {camera}")
    return ", ".join(parts) + "."


def _letters_and_digits(text: str) -> int:
    return sum(char.isalnum() for char in text)
