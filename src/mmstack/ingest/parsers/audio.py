"""Recordings: one paragraph per stretch of speech Whisper transcribes, timed in the file."""

from __future__ import annotations

from pathlib import Path

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ElementKind, ParsedDocument, TextSource
from mmstack.media.audio import probe_audio
from mmstack.media.detect import (
    AUDIO_FLAC,
    AUDIO_MP4,
    AUDIO_MPEG,
    AUDIO_OGG,
    AUDIO_WAV,
    extension_of,
)
from mmstack.media.detect import EXTENSION_MEDIA_TYPES as _BY_EXTENSION

from .context import ParseContext

DISABLED_REASON = "speech-to-text is disabled, so a recording cannot be transcribed"
NO_SPEECH_REASON = "no speech was found in the recording"

# PyAV's container format names, for a file whose name does not say what it is.
_BY_CONTAINER = {
    "wav": AUDIO_WAV,
    "mp3": AUDIO_MPEG,
    "ogg": AUDIO_OGG,
    "flac": AUDIO_FLAC,
    "mov,mp4,m4a,3gp,3g2,mj2": AUDIO_MP4,
}


def parse(path: Path, *, filename: str, context: ParseContext) -> ParsedDocument:
    context.limits.check_size(path.stat().st_size)
    info = context.decoder.call(probe_audio, path)
    if context.transcriber is None:
        raise IngestError(DISABLED_REASON)
    elements: list[Element] = []
    segments = context.transcriber.transcribe(
        path, progress=context.progress, decoder=context.decoder
    )
    for segment in segments:
        if len(elements) >= context.limits.max_elements:
            raise IngestError(
                f"recording has more than {context.limits.max_elements} speech segments, "
                "over the limit"
            )
        elements.append(
            Element(
                ElementKind.PARAGRAPH,
                segment.text,
                source=TextSource.SPEECH,
                time_start=segment.start,
                time_end=segment.end,
            )
        )
    if not elements:
        raise IngestError(NO_SPEECH_REASON)
    context.progress(1.0)
    return ParsedDocument(
        media_type=_media_type(filename, info.container),
        elements=elements,
        metadata=info.metadata(),
        duration=info.duration,
    )


def _media_type(filename: str, container: str) -> str:
    by_name = _BY_EXTENSION.get(extension_of(filename), "")
    if by_name.startswith("audio/"):
        return by_name
    return _BY_CONTAINER.get(container) or by_name or f"audio/{container.split(',')[0]}"
