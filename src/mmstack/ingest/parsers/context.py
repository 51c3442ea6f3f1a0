"""What a parser may use besides the file: limits, the media models (`models/contracts.py`),
a progress callback, and where decoding runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mmstack.media.decoder import IN_PROCESS, Decoder
from mmstack.models.contracts import ImageDescriber, TextReader, Transcriber

from .limits import ParseLimits

if TYPE_CHECKING:
    from mmstack.config.settings import IngestSettings


def _ignore_progress(_: float) -> None:
    return None


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Isolation:
    """Budgets of the helper process that parses documents and decodes media (`sandbox.py`)."""

    timeout_seconds: float
    """Time one file's parsing and decoding may take in the helper (OCR and speech-to-text
    of what it decodes are not counted)..."""
    memory_bytes: int
    seconds_per_mib: float = 0.0
    """...plus this for each MiB of the file."""

    def seconds_for(self, size: int) -> float:
        return self.timeout_seconds + self.seconds_per_mib * size / 1024**2

    @classmethod
    def configured(cls, settings: IngestSettings) -> Isolation | None:
        """The budgets the settings give, or None where parsing is not isolated."""
        if not settings.isolate_parsers:
            return None
        return cls(
            settings.parse_timeout_seconds,
            settings.parse_memory_bytes,
            seconds_per_mib=settings.parse_seconds_per_mib,
        )


@dataclass(frozen=True, slots=True)
class ParseContext:
    limits: ParseLimits = field(default_factory=ParseLimits)
    ocr: TextReader | None = None
    transcriber: Transcriber | None = None
    describer: ImageDescriber | None = None
    progress: Callable[[float], None] = _ignore_progress
    """Share of the file parsed so far (0..1); long media report it as they go."""
    heartbeat: Callable[[], None] = _nothing
    """Called about once a second while the helper works, to show the parse is alive."""
    isolation: Isolation | None = None
    """Parse documents and decode media in a helper process with these budgets
    (`sandbox.py`); None: in this process."""
    decoder: Decoder = IN_PROCESS
    """What runs the decoding: `parse_file` sets it from `isolation`."""
