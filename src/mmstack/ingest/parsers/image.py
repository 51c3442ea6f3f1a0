"""Pictures: the text OCR reads in them, in paragraphs with their boxes, and a thumbnail.

A picture without text (or read without OCR) still gets one short element describing it,
its name, size, date taken and camera, so a search can find it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ElementKind, ParsedDocument
from mmstack.ingest.media.images import (
    asset_key,
    load_image,
    perceptual_hash,
    thumbnail_bytes,
)
from mmstack.ingest.media.ocr_layout import ocr_elements

from .context import ParseContext

MIN_OCR_SIDE = 16
"""Images narrower or shorter than this (pixels) hold no line OCR can read; skip it."""


def parse(path: Path, *, filename: str, context: ParseContext) -> ParsedDocument:
    limits = context.limits
    limits.check_size(path.stat().st_size)
    loaded = load_image(path, max_pixels=limits.max_image_pixels)
    image, metadata = loaded.image, loaded.metadata
    metadata["perceptual_hash"] = perceptual_hash(image)
    preview = thumbnail_bytes(image)
    key = asset_key(preview)
    elements: list[Element] = []
    if context.ocr is not None and min(image.size) >= MIN_OCR_SIDE:
        lines = context.ocr.read(image)
        elements = ocr_elements(lines, thumbnail=key)
        metadata["ocr"] = True
    if len(elements) > limits.max_elements:
        raise IngestError(f"image has more than {limits.max_elements} text blocks, over the limit")
    if not elements:
        elements = [Element(ElementKind.PARAGRAPH, describe(filename, metadata), thumbnail=key)]
    context.progress(1.0)
    return ParsedDocument(
        media_type=loaded.media_type,
        elements=elements,
        metadata=metadata,
        assets={key: preview},
        thumbnail=key,
    )


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
