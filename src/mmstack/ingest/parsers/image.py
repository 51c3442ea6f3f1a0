"""Pictures: the text OCR reads in them, in paragraphs with their boxes, and a thumbnail.

A picture without text (read without OCR, or where OCR found only a few characters) also
gets one short element describing it, its name, size, date taken and camera, so a search
can find it. With a describer (a vision model, off by default), its description of the
picture comes first, as a caption. Blocks of a single character are dropped: on
photographs they are mostly textures read as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ElementKind, ParsedDocument, TextSource
from mmstack.ingest.media.images import (
    LoadedImage,
    asset_key,
    load_image,
    perceptual_hash,
    thumbnail_bytes,
)
from mmstack.ingest.media.ocr_layout import ocr_elements

from .context import DescriberError, ParseContext

MIN_OCR_SIDE = 16
"""Images narrower or shorter than this (pixels) hold no line OCR can read; skip it."""
_MIN_BLOCK_CHARS = 2  # OCR blocks with fewer letters or digits are mostly textures read as text
_MIN_TEXT_CHARS = 5  # with fewer letters or digits read in all, the picture is described too


@dataclass(frozen=True, slots=True)
class _Decoded:
    loaded: LoadedImage
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
        blocks = ocr_elements(context.ocr.read(image), thumbnail=key)
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
    """The decoding, which a `Decoder` may run in a helper process."""
    loaded = load_image(path, max_pixels=max_pixels)
    loaded.metadata["perceptual_hash"] = perceptual_hash(loaded.image)
    return _Decoded(loaded, thumbnail_bytes(loaded.image))


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
