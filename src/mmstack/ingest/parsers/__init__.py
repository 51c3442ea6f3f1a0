"""Document parsers: bytes of a supported file in, a `ParsedDocument` out.

Every failure is an `IngestError` whose message says what is wrong with the file.
"""

from __future__ import annotations

from typing import Protocol

from mmstack.errors import IngestError
from mmstack.ingest.document import ParsedDocument

from . import csv_table, html_page, json_records, markdown, pdf, plaintext, word
from .detect import (
    APPLICATION_DOCX,
    APPLICATION_JSON,
    APPLICATION_NDJSON,
    APPLICATION_PDF,
    SUPPORTED_EXTENSIONS,
    TEXT_CSV,
    TEXT_HTML,
    TEXT_MARKDOWN,
    TEXT_PLAIN,
    base_name,
    detect_media_type,
)
from .limits import ParseLimits

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ParseLimits",
    "detect_media_type",
    "parse_document",
]


class Parser(Protocol):
    def __call__(self, data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument: ...


_PARSERS: dict[str, Parser] = {
    TEXT_PLAIN: plaintext.parse,
    TEXT_MARKDOWN: markdown.parse,
    TEXT_HTML: html_page.parse,
    TEXT_CSV: csv_table.parse,
    APPLICATION_PDF: pdf.parse,
    APPLICATION_DOCX: word.parse,
    APPLICATION_JSON: json_records.parse,
    APPLICATION_NDJSON: json_records.parse_lines,
}


def parse_document(
    data: bytes, *, filename: str, limits: ParseLimits | None = None
) -> ParsedDocument:
    """Parse a file by the type its name and first bytes say it has.

    `filename` only serves type detection; any directory part of it is ignored.
    """
    limits = limits or ParseLimits()
    name = base_name(filename)
    parser = _PARSERS[detect_media_type(name, data[:16])]
    try:
        return parser(data, filename=name, limits=limits)
    except IngestError:
        raise
    except RecursionError:
        raise IngestError("document is nested too deeply to parse") from None
    except MemoryError:
        raise IngestError("document needs more memory to parse than is available") from None
    except Exception as exc:
        # A parser bug or a library failure we did not anticipate: still the file's reason.
        raise IngestError(f"file could not be parsed ({type(exc).__name__}: {exc})") from exc
