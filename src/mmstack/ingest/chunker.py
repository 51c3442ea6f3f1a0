"""Token-aware chunking that keeps sections, paragraphs and pages together.

Elements are packed into chunks of at most `max_tokens` (counted with the embedding
model's tokenizer). A heading starts a new chunk, so does a new page, a change of text
source (text layer, OCR, speech) and a new image (a video frame, a scanned page), so a
chunk's anchor is one page, one section and one picture. Timed text (speech, video frames)
keeps each element's time range in the chunk's timeline. A chunk that closes because it
is full hands its last elements (up to `overlap_tokens`) to the next one. An element
longer than a chunk is split at sentence ends, and a sentence longer than a chunk at token
boundaries with overlap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from mmstack.ingest.document import Element, ElementKind, ParsedDocument, Region, TextSource

SEPARATOR = "\n\n"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class TokenCounter(Protocol):
    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def tokenize_offsets(self, text: str) -> list[tuple[int, int]]: ...


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    seq: int
    text: str
    token_count: int
    char_start: int
    char_end: int
    page_start: int | None
    page_end: int | None
    heading_path: tuple[str, ...]
    source: TextSource = TextSource.TEXT
    region: Region | None = None
    time_start: float | None = None
    time_end: float | None = None
    thumbnail: str | None = None
    timeline: tuple[tuple[int, float, float], ...] = ()
    """(offset in `text`, start, end) of each timed part, in order."""


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int  # character offsets in the document text
    end: int
    tokens: int
    page: int | None
    heading_path: tuple[str, ...]
    is_heading: bool
    element: Element


def document_text(doc: ParsedDocument) -> tuple[str, list[int]]:
    """The document's plain text (elements joined by blank lines) and each element's start."""
    starts: list[int] = []
    position = 0
    for element in doc.elements:
        starts.append(position)
        position += len(element.text) + len(SEPARATOR)
    return SEPARATOR.join(e.text for e in doc.elements), starts


def chunk_document(
    doc: ParsedDocument, counter: TokenCounter, *, max_tokens: int, overlap_tokens: int
) -> tuple[str, list[ChunkDraft]]:
    text, starts = document_text(doc)
    units = _units(doc, starts, counter, max_tokens, overlap_tokens)
    return text, _pack(text, units, max_tokens, overlap_tokens)


def _units(
    doc: ParsedDocument,
    starts: list[int],
    counter: TokenCounter,
    max_tokens: int,
    overlap_tokens: int,
) -> list[_Unit]:
    counts = counter.count_tokens([e.text for e in doc.elements])
    units: list[_Unit] = []
    for element, start, tokens in zip(doc.elements, starts, counts, strict=True):
        is_heading = element.kind in (ElementKind.HEADING, ElementKind.TITLE)
        unit = partial(
            _Unit,
            page=element.page,
            heading_path=element.heading_path,
            is_heading=is_heading,
            element=element,
        )
        if tokens <= max_tokens:
            units.append(unit(start=start, end=start + len(element.text), tokens=tokens))
            continue
        for s, e in _sentence_spans(element.text):
            piece = element.text[s:e]
            (n,) = counter.count_tokens([piece])
            if n <= max_tokens:
                units.append(unit(start=start + s, end=start + e, tokens=n))
                continue
            offsets = counter.tokenize_offsets(piece)
            step = max_tokens - overlap_tokens
            for first in range(0, len(offsets), step):
                window = offsets[first : first + max_tokens]
                units.append(
                    unit(
                        start=start + s + window[0][0],
                        end=start + s + window[-1][1],
                        tokens=len(window),
                    )
                )
                if first + max_tokens >= len(offsets):
                    break
    return units


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((position, match.start()))
        position = match.end()
    if position < len(text):
        spans.append((position, len(text)))
    return [(s, e) for s, e in spans if e > s]


def _pack(text: str, units: list[_Unit], max_tokens: int, overlap_tokens: int) -> list[ChunkDraft]:
    chunks: list[ChunkDraft] = []
    current: list[_Unit] = []
    tokens = 0

    def close() -> None:
        body = [u for u in current if not u.is_heading] or current
        first, last = current[0], current[-1]
        pages = [u.page for u in current if u.page is not None]
        elements = [u.element for u in current]
        timed = [
            (u.start - first.start, u.element.time_start, u.element.time_end or 0.0)
            for u in current
            if u.element.time_start is not None
        ]
        chunks.append(
            ChunkDraft(
                seq=len(chunks),
                text=text[first.start : last.end],
                token_count=sum(u.tokens for u in current),
                char_start=first.start,
                char_end=last.end,
                page_start=min(pages) if pages else None,
                page_end=max(pages) if pages else None,
                heading_path=body[0].heading_path,
                source=first.element.source,
                region=_union([e.region for e in elements if e.region is not None]),
                time_start=min(t[1] for t in timed) if timed else None,
                time_end=max(t[2] for t in timed) if timed else None,
                thumbnail=first.element.thumbnail,
                timeline=tuple(timed),
            )
        )

    for unit in units:
        if current:
            new_section = unit.is_heading and not current[-1].is_heading
            new_page = unit.page != current[-1].page
            last = current[-1].element
            new_picture = (
                unit.element.source != last.source or unit.element.thumbnail != last.thumbnail
            )
            if new_section or new_page or new_picture:
                close()
                current, tokens = [], 0
            elif tokens + unit.tokens > max_tokens:
                close()
                carried: list[_Unit] = []
                carried_tokens = 0
                for previous in reversed(current):
                    if carried_tokens + previous.tokens > overlap_tokens:
                        break
                    carried.insert(0, previous)
                    carried_tokens += previous.tokens
                if carried_tokens + unit.tokens > max_tokens:
                    carried, carried_tokens = [], 0
                current, tokens = carried, carried_tokens
        current.append(unit)
        tokens += unit.tokens
    if current:
        close()
    return chunks


def _union(regions: list[Region]) -> Region | None:
    if not regions:
        return None
    return (
        min(r[0] for r in regions),
        min(r[1] for r in regions),
        max(r[2] for r in regions),
        max(r[3] for r in regions),
    )
