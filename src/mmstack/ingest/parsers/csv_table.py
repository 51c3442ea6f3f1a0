"""CSV/TSV: the first row is the header; every other row becomes one RECORD element."""

from __future__ import annotations

import csv
import io

from mmstack.errors import IngestError
from mmstack.ingest.document import ElementKind, ParsedDocument
from mmstack.media.detect import TEXT_CSV, extension_of

from .builder import ElementBuilder, collapse_whitespace
from .limits import ParseLimits
from .text_decode import decode_text

_SNIFF_SAMPLE_CHARS = 64 * 1024
_DELIMITERS = ",;\t|"


def parse(data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument:
    limits.check_input(data)
    text = decode_text(data)
    delimiter, quotechar = _sniff(text, default="\t" if extension_of(filename) == ".tsv" else ",")
    # Only the delimiter and quote come from the sniffer: it guesses the rest from a sample
    # (doublequote=False when the sample has no "" escape) and later rows would misparse.
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar, strict=True
    )
    builder = ElementBuilder(limits)
    header: list[str] | None = None
    rows = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [collapse_whitespace(name) for name in row]
                continue
            rows += 1
            builder.add(ElementKind.RECORD, _render(header, row))
    except csv.Error as exc:
        raise IngestError(f"CSV is malformed at line {reader.line_num}: {exc}") from None
    if header is None:
        raise IngestError("CSV contains no rows")
    metadata = {"columns": header, "rows": rows, "delimiter": delimiter}
    return builder.finish(
        TEXT_CSV, empty_reason="CSV has a header row but no data rows", metadata=metadata
    )


def _sniff(text: str, *, default: str) -> tuple[str, str]:
    try:
        dialect = csv.Sniffer().sniff(text[:_SNIFF_SAMPLE_CHARS], delimiters=_DELIMITERS)
    except csv.Error:  # one column, or too little text to tell
        return default, '"'
    return dialect.delimiter, dialect.quotechar or '"'


def _render(header: list[str], row: list[str]) -> str:
    """`name: value; name: value`, skipping empty cells; extra cells get `column N`."""
    fields = []
    for index, value in enumerate(row):
        value = collapse_whitespace(value)
        if not value:
            continue
        name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
        fields.append(f"{name}: {value}")
    return "; ".join(fields)
