"""Media models loaded on the first file that needs them, not at start-up: OCR and Whisper
take memory and seconds to load, and most stacks ingest documents long before (or
without ever) seeing a picture or a recording."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from mmstack.ingest.parsers.context import SpeechSegment, TextLine, TextReader, Transcriber

if TYPE_CHECKING:
    from PIL.Image import Image

T = TypeVar("T")


class _OnDemand(Generic[T]):
    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._model: T | None = None

    def get(self) -> T:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None


class OnDemandTextReader(_OnDemand[TextReader]):
    def read(self, image: Image) -> list[TextLine]:
        return self.get().read(image)


class OnDemandTranscriber(_OnDemand[Transcriber]):
    def transcribe(
        self, path: Path, *, progress: Callable[[float], None] | None = None
    ) -> Iterator[SpeechSegment]:
        return self.get().transcribe(path, progress=progress)
