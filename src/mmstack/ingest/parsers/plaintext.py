"""Plain text: paragraphs are separated by blank lines; lines inside one are kept."""

from __future__ import annotations

import re

from mmstack.ingest.document import ElementKind, ParsedDocument
from mmstack.media.detect import TEXT_PLAIN

from .builder import ElementBuilder
from .limits import ParseLimits
from .text_decode import decode_text

_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n\s*")


def parse(data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument:
    limits.check_input(data)
    text = decode_text(data)
    builder = ElementBuilder(limits)
    for block in _BLANK_LINES.split(text):
        builder.add(ElementKind.PARAGRAPH, block)
    return builder.finish(TEXT_PLAIN)
