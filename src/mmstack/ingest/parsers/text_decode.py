"""Bytes to text for the text formats: strict, with errors a person can act on."""

from __future__ import annotations

import codecs

from mmstack.errors import IngestError
from mmstack.media.detect import describe_signature

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def sniff_bom(data: bytes) -> tuple[str, int] | None:
    """The encoding a byte order mark announces and the BOM's length."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def decode_text(data: bytes, *, encoding: str = "utf-8") -> str:
    """Decode a text file: a BOM wins over `encoding`; newlines become `\\n`.

    Never replaces undecodable bytes: a file in another encoding fails with the offset of
    the first bad byte instead of being indexed as mojibake.
    """
    if not data:
        raise IngestError("file is empty")
    bom = sniff_bom(data)
    if bom is None:
        binary = describe_signature(data[:16])
        if binary is not None:
            raise IngestError(f"file content is {binary}, not text")
        skip = 0
    else:
        encoding, skip = bom
    body = memoryview(data)[skip:]
    try:
        text = str(body, encoding)
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = str(body[: exc.start], encoding).count("\n") + 1
        name = codecs.lookup(encoding).name.upper()
        raise IngestError(
            f"text is not valid {name}: invalid byte 0x{data[offset]:02x} at byte offset "
            f"{offset} (line {line}); re-save the file as UTF-8"
        ) from None
    if "\x00" in text:
        raise IngestError("file contains NUL characters: it looks like binary data, not text")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise IngestError("file contains no text (only a byte order mark)")
    if text.isspace():
        raise IngestError("file contains only whitespace")
    return text
