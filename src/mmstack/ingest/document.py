"""The normalized document every parser produces, whatever the source format."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ElementKind(StrEnum):
    TITLE = "title"
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST = "list"
    TABLE = "table"
    CODE = "code"
    RECORD = "record"  # one row of a CSV, one object of a JSON array


class TextSource(StrEnum):
    """How a block of text was obtained from the file."""

    TEXT = "text"  # the file's own text layer
    OCR = "ocr"  # read from pixels: an image, a scanned page, a video frame
    SPEECH = "speech"  # transcribed from an audio track
    CAPTION = "caption"  # written by a vision model describing an image


Region = tuple[int, int, int, int]
"""A box in pixels of the source image or page render: left, top, right, bottom."""


@dataclass(frozen=True, slots=True)
class Element:
    """One block of text with where it came from.

    `page` is 1-based (PDF), `heading_path` the titles of the enclosing sections, outermost
    first; a heading element's own path ends with its own text. `level` is set on headings.
    Media anchors: `region` (a box of the image, or of the page rendered at `page`),
    `time_start`/`time_end` in seconds from the start of an audio or video file, and
    `thumbnail`, the key of an image in `ParsedDocument.assets` showing where the text is
    (the video frame, the page, the picture).
    """

    kind: ElementKind
    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    level: int | None = None
    source: TextSource = TextSource.TEXT
    region: Region | None = None
    time_start: float | None = None
    time_end: float | None = None
    thumbnail: str | None = None


@dataclass(slots=True)
class ParsedDocument:
    """A parser's output. `assets` holds derived images (thumbnails) by key, JPEG or PNG
    bytes, stored beside the file; `thumbnail` is the key of the file's own preview."""

    media_type: str
    elements: list[Element]
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    page_count: int | None = None
    duration: float | None = None  # seconds, for audio and video
    assets: dict[str, bytes] = field(default_factory=dict)
    thumbnail: str | None = None
