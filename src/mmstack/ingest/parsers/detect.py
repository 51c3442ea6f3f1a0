"""Decide a file's media type from its name, cross-checked with its first bytes."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from mmstack.errors import IngestError

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


SUPPORTED_EXTENSIONS: Final[tuple[str, ...]] = tuple(sorted(EXTENSION_MEDIA_TYPES))

PDF_MAGIC: Final = b"%PDF-"
ZIP_MAGIC: Final = b"PK\x03\x04"

# Signatures of binary formats, to tell the user what a misnamed file really is.
_SIGNATURES: Final[tuple[tuple[bytes, str], ...]] = (
    (PDF_MAGIC, "a PDF document"),
    (ZIP_MAGIC, "a ZIP archive"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an OLE2 compound file (a legacy .doc/.xls, or a password-protected Office document)",
    ),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "an ELF executable"),
)

_PATH_SEPARATORS = re.compile(r"[/\\]")


def base_name(filename: str) -> str:
    """The last component of a client-supplied name; directories (and `..`) are meaningless."""
    return _PATH_SEPARATORS.split(filename.replace("\x00", ""))[-1]


def describe_signature(head: bytes) -> str | None:
    """What binary format `head` starts with, as a phrase, or None if it is none we know."""
    for magic, description in _SIGNATURES:
        if head.startswith(magic):
            return description
    return None


def extension_of(filename: str) -> str:
    name = base_name(filename)
    stem, dot, ext = name.rpartition(".")
    if not dot or not ext or not stem.strip("."):
        return ""
    return "." + ext.lower()


def detect_media_type(filename: str, head: bytes) -> str:
    """The media type to parse a file as.

    The extension decides, with one exception: content that unmistakably is a PDF is parsed
    as one whatever its (supported) extension says. Any other mismatch goes to the parser
    the extension names, which rejects it with a reason (a `.pdf` that is a ZIP archive, a
    `.txt` that is a PNG...).
    """
    ext = extension_of(filename)
    media_type = EXTENSION_MEDIA_TYPES.get(ext)
    if media_type is None:
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        if not ext:
            name = base_name(filename)
            raise IngestError(
                f"unsupported file type: '{name}' has no extension (supported: {supported})"
            )
        raise IngestError(f"unsupported file type '{ext}' (supported: {supported})")
    if head.startswith(PDF_MAGIC):
        return APPLICATION_PDF
    return media_type
