"""Models loaded when first needed, not at start-up. OCR and Whisper take memory and
seconds to load, and most stacks ingest documents long before (or without ever) seeing a
picture or a recording; the text embedder is needed by nearly everything, but not by a
command that only lists, and a server answers before it has loaded it (`warm_in_background`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from mmstack.media.decoder import IN_PROCESS, Decoder
from mmstack.models.contracts import SpeechSegment, TextLine, TextReader, Transcriber
from mmstack.models.embedder import Embedder

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL.Image import Image

    from mmstack.arrays import FloatArray

T = TypeVar("T")
log = logging.getLogger(__name__)


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

    def warm_in_background(self) -> None:
        """Load the model in a thread of its own; callers meanwhile wait for it, and a
        failure there is raised again by the first call."""
        threading.Thread(target=self._try_load, name="model-load", daemon=True).start()

    def _try_load(self) -> None:
        try:
            self.get()
        except Exception:  # the first call that needs the model raises it
            log.warning("loading a model in the background failed", exc_info=True)


class OnDemandTextReader(_OnDemand[TextReader]):
    def read(self, image: Image) -> list[TextLine]:
        return self.get().read(image)


class OnDemandTranscriber(_OnDemand[Transcriber]):
    def transcribe(
        self,
        path: Path,
        *,
        progress: Callable[[float], None] | None = None,
        decoder: Decoder = IN_PROCESS,
    ) -> Iterator[SpeechSegment]:
        return self.get().transcribe(path, progress=progress, decoder=decoder)


class OnDemandEmbedder(_OnDemand[Embedder]):
    """`Embedder` whose model (known by its id and dimension) loads when first used."""

    def __init__(self, model_id: str, dimension: int, load: Callable[[], Embedder]) -> None:
        super().__init__(load)
        self._model_id = model_id
        self._dimension = dimension

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(
        self, texts: Sequence[str], *, between_batches: Callable[[], None] | None = None
    ) -> FloatArray:
        return self.get().embed(texts, between_batches=between_batches)

    def embed_query(self, text: str) -> FloatArray:
        return self.get().embed_query(text)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.get().count_tokens(texts)

    def tokenize_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.get().tokenize_offsets(text)
