"""What the models that read media provide: OCR, speech-to-text and picture description.

Parsers depend on these protocols, not on model runtimes; the stack injects the real ones
(`ocr.py`, `transcriber.py`, `vision.py`) and loads each on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mmstack.media.decoder import IN_PROCESS, Decoder

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text read from an image, with its box in that image's pixels."""

    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom
    score: float


class TextReader(Protocol):
    """OCR: the lines of text in an image, in reading order."""

    def read(self, image: Image) -> list[TextLine]: ...


class ImageDescriber(Protocol):
    """Image understanding: a short description of what a picture shows (a vision model).
    Raises `DescriberError` when it cannot; the picture is then ingested without one."""

    def describe(self, image: Image) -> str: ...


class DescriberError(Exception):
    """The describer failed (its server is down, slow, or answered nonsense)."""


@dataclass(frozen=True, slots=True)
class SpeechSegment:
    start: float  # seconds from the start of the file
    end: float
    text: str


class Transcriber(Protocol):
    """Speech to text over an audio or video file, streamed segment by segment.

    `progress` receives the share of the file's duration processed so far (0..1).
    """

    def transcribe(
        self,
        path: Path,
        *,
        progress: Callable[[float], None] | None = None,
        decoder: Decoder = IN_PROCESS,
    ) -> Iterator[SpeechSegment]: ...
