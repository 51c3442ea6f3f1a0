"""The media types mmstack ingests, by file extension, and the kind of file each is."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

TEXT_PLAIN: Final = "text/plain"
TEXT_MARKDOWN: Final = "text/markdown"
TEXT_HTML: Final = "text/html"
TEXT_CSV: Final = "text/csv"
APPLICATION_PDF: Final = "application/pdf"
APPLICATION_DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
APPLICATION_JSON: Final = "application/json"
APPLICATION_NDJSON: Final = "application/x-ndjson"
IMAGE_PNG: Final = "image/png"
IMAGE_JPEG: Final = "image/jpeg"
IMAGE_WEBP: Final = "image/webp"
IMAGE_TIFF: Final = "image/tiff"
IMAGE_GIF: Final = "image/gif"
AUDIO_WAV: Final = "audio/wav"
AUDIO_MPEG: Final = "audio/mpeg"
AUDIO_MP4: Final = "audio/mp4"
AUDIO_OGG: Final = "audio/ogg"
AUDIO_FLAC: Final = "audio/flac"
VIDEO_MP4: Final = "video/mp4"
VIDEO_WEBM: Final = "video/webm"
VIDEO_MATROSKA: Final = "video/x-matroska"
VIDEO_QUICKTIME: Final = "video/quicktime"

EXTENSION_MEDIA_TYPES: Final[dict[str, str]] = {
    ".txt": TEXT_PLAIN,
    ".text": TEXT_PLAIN,
    ".md": TEXT_MARKDOWN,
    ".markdown": TEXT_MARKDOWN,
    ".html": TEXT_HTML,
    ".htm": TEXT_HTML,
    ".pdf": APPLICATION_PDF,
    ".docx": APPLICATION_DOCX,
    ".csv": TEXT_CSV,
    ".tsv": TEXT_CSV,
    ".json": APPLICATION_JSON,
    ".jsonl": APPLICATION_NDJSON,
    ".ndjson": APPLICATION_NDJSON,
    ".png": IMAGE_PNG,
    ".jpg": IMAGE_JPEG,
    ".jpeg": IMAGE_JPEG,
    ".webp": IMAGE_WEBP,
    ".tif": IMAGE_TIFF,
    ".tiff": IMAGE_TIFF,
    ".gif": IMAGE_GIF,
    ".wav": AUDIO_WAV,
    ".mp3": AUDIO_MPEG,
    ".m4a": AUDIO_MP4,
    ".ogg": AUDIO_OGG,
    ".oga": AUDIO_OGG,
    ".opus": AUDIO_OGG,
    ".flac": AUDIO_FLAC,
    ".mp4": VIDEO_MP4,
    ".m4v": VIDEO_MP4,
    ".webm": VIDEO_WEBM,
    ".mkv": VIDEO_MATROSKA,
    ".mov": VIDEO_QUICKTIME,
}


class Modality(StrEnum):
    """What kind of file: a document, a picture, a recording or a video."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


def modality_of(media_type: str) -> Modality:
    kind = media_type.partition("/")[0]
    if kind in ("image", "audio", "video"):
        return Modality(kind)
    return Modality.TEXT


def media_types_of(modality: Modality) -> tuple[str, ...]:
    """Every media type mmstack ingests with that modality (for filters on media type)."""
    return tuple(sorted({t for t in EXTENSION_MEDIA_TYPES.values() if modality_of(t) is modality}))
