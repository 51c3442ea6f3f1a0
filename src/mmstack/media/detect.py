"""Decide a file's media type from its name, cross-checked with its first bytes."""

from __future__ import annotations

import re
from typing import Final

from mmstack.errors import IngestError
from mmstack.media_types import (
    APPLICATION_DOCX,
    APPLICATION_JSON,
    APPLICATION_NDJSON,
    APPLICATION_PDF,
    AUDIO_FLAC,
    AUDIO_MP4,
    AUDIO_MPEG,
    AUDIO_OGG,
    AUDIO_WAV,
    EXTENSION_MEDIA_TYPES,
    IMAGE_GIF,
    IMAGE_JPEG,
    IMAGE_PNG,
    IMAGE_TIFF,
    IMAGE_WEBP,
    TEXT_CSV,
    TEXT_HTML,
    TEXT_MARKDOWN,
    TEXT_PLAIN,
    VIDEO_MATROSKA,
    VIDEO_MP4,
    VIDEO_QUICKTIME,
    VIDEO_WEBM,
    Modality,
    media_types_of,
    modality_of,
)

# The media types are re-exported: parsers name the types they read from here.
__all__ = [
    "APPLICATION_DOCX",
    "APPLICATION_JSON",
    "APPLICATION_NDJSON",
    "APPLICATION_PDF",
    "AUDIO_FLAC",
    "AUDIO_MP4",
    "AUDIO_MPEG",
    "AUDIO_OGG",
    "AUDIO_WAV",
    "EXTENSION_MEDIA_TYPES",
    "IMAGE_GIF",
    "IMAGE_JPEG",
    "IMAGE_PNG",
    "IMAGE_TIFF",
    "IMAGE_WEBP",
    "PDF_MAGIC",
    "SUPPORTED_EXTENSIONS",
    "TEXT_CSV",
    "TEXT_HTML",
    "TEXT_MARKDOWN",
    "TEXT_PLAIN",
    "VIDEO_MATROSKA",
    "VIDEO_MP4",
    "VIDEO_QUICKTIME",
    "VIDEO_WEBM",
    "ZIP_MAGIC",
    "Modality",
    "base_name",
    "describe_signature",
    "detect_media_type",
    "extension_of",
    "media_types_of",
    "modality_of",
]

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
