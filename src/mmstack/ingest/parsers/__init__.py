"""Parsers: a supported file in (its bytes, or its path for media and PDF), a
`ParsedDocument` out.

Every failure is an `IngestError` whose message says what is wrong with the file.
"""

from __future__ import annotations

import dataclasses
import importlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from mmstack.errors import IngestError
from mmstack.ingest.document import ParsedDocument
from mmstack.media.decoder import IN_PROCESS, Decoder
from mmstack.media.detect import (
    APPLICATION_DOCX,
    APPLICATION_JSON,
    APPLICATION_NDJSON,
    APPLICATION_PDF,
    SUPPORTED_EXTENSIONS,
    TEXT_CSV,
    TEXT_HTML,
    TEXT_MARKDOWN,
    TEXT_PLAIN,
    Modality,
    base_name,
    detect_media_type,
    modality_of,
)

from .context import Isolation, ParseContext
from .limits import ParseLimits

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ParseContext",
    "ParseLimits",
    "detect_media_type",
    "parse_document",
    "parse_file",
]


OUT_OF_MEMORY = "document needs more memory to parse than is available"


class Parser(Protocol):
    """A document format read from memory (text formats, DOCX)."""

    def __call__(self, data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument: ...


class FileParser(Protocol):
    """A format read from a file: media, whose decoders stream from disk, and PDF."""

    def __call__(self, path: Path, *, filename: str, context: ParseContext) -> ParsedDocument: ...


# The document formats read from memory, by the module and function that read them:
# imported on first use, which is in the parser helper when parsing is isolated (the
# server then never loads python-docx, lxml, selectolax or markdown-it).
_PARSERS: dict[str, tuple[str, str]] = {
    TEXT_PLAIN: ("plaintext", "parse"),
    TEXT_MARKDOWN: ("markdown", "parse"),
    TEXT_HTML: ("html_page", "parse"),
    TEXT_CSV: ("csv_table", "parse"),
    APPLICATION_DOCX: ("word", "parse"),
    APPLICATION_JSON: ("json_records", "parse"),
    APPLICATION_NDJSON: ("json_records", "parse_lines"),
}


def _document_parser(media_type: str) -> Parser:
    module, function = _PARSERS[media_type]
    parser: Parser = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    return parser


def _file_parser(media_type: str) -> FileParser:
    # Imported on first use: the media decoders (PyAV, Pillow plugins) are heavy imports.
    if media_type == APPLICATION_PDF:
        from . import pdf

        return pdf.parse
    match modality_of(media_type):
        case Modality.IMAGE:
            from . import image

            return image.parse
        case Modality.AUDIO:
            from . import audio

            return audio.parse
        case Modality.VIDEO:
            from . import video

            return video.parse
    raise AssertionError(f"no parser for {media_type}")


def parse_file(path: Path, *, filename: str, context: ParseContext | None = None) -> ParsedDocument:
    """Parse the file at `path` by the type its name and first bytes say it has.

    `filename` (the name the user gave it) only serves type detection; any directory part
    of it is ignored. With `context.isolation`, the parsing and decoding run in a helper
    process with its budgets.
    """
    context = context or ParseContext()
    name = base_name(filename)
    with path.open("rb") as handle:
        head = handle.read(16)
    media_type = detect_media_type(name, head)
    size = path.stat().st_size
    if context.isolation is not None:
        decoder = decoder_for(context.isolation, size, waiting=context.heartbeat)
        context = dataclasses.replace(context, decoder=decoder)
    with failure_reasons():
        context.limits.check_size(size)
        if media_type in _PARSERS:
            return context.decoder.call(
                parse_path, media_type, path, filename=name, limits=context.limits
            )
        return _file_parser(media_type)(path, filename=name, context=context)


def decoder_for(
    isolation: Isolation | None, size: int, *, waiting: Callable[[], None] = lambda: None
) -> Decoder:
    """What decodes a file of `size` bytes: a helper with `isolation`'s budgets, or this
    process where there are none."""
    if isolation is None:
        return IN_PROCESS
    from .sandbox import IsolatedDecoder

    return IsolatedDecoder(isolation, size, waiting=waiting)


def parse_path(
    media_type: str, path: Path, *, filename: str, limits: ParseLimits
) -> ParsedDocument:
    """Parse the file at `path`, of a document format read from memory."""
    return parse_bytes(media_type, path.read_bytes(), filename=filename, limits=limits)


def parse_bytes(
    media_type: str, data: bytes, *, filename: str, limits: ParseLimits
) -> ParsedDocument:
    """Parse a document format read from memory (`media_type` one of those)."""
    with failure_reasons():
        return _document_parser(media_type)(data, filename=filename, limits=limits)


def parse_document(
    data: bytes,
    *,
    filename: str,
    limits: ParseLimits | None = None,
    context: ParseContext | None = None,
) -> ParsedDocument:
    """Parse bytes held in memory (written to a temporary file for the formats read from
    disk, or parsed in a helper)."""
    context = context or ParseContext(limits=limits or ParseLimits())
    name = base_name(filename)
    media_type = detect_media_type(name, data[:16])
    if media_type in _PARSERS and context.isolation is None:
        return parse_bytes(media_type, data, filename=name, limits=context.limits)
    context.limits.check_input(data)
    with tempfile.TemporaryDirectory(prefix="mmstack-parse-") as tmp:
        path = Path(tmp) / "input"
        path.write_bytes(data)
        return parse_file(path, filename=name, context=context)


@contextmanager
def failure_reasons() -> Iterator[None]:
    """Turn any parser failure into an `IngestError` whose message is the file's reason."""
    try:
        yield
    except IngestError:
        raise
    except RecursionError:
        raise IngestError("document is nested too deeply to parse") from None
    except MemoryError:
        raise IngestError(OUT_OF_MEMORY) from None
    except Exception as exc:
        # A parser bug or a library failure we did not anticipate: still the file's reason.
        raise IngestError(f"file could not be parsed ({type(exc).__name__}: {exc})") from exc
