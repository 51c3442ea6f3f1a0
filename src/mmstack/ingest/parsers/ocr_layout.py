"""OCR lines grouped into paragraphs, then ordered for reading.

A line joins the paragraph above it when the vertical gap is under four fifths of a line
height, the two overlap horizontally and their heights are alike (a title does not merge
with the body under it). A line on the same row as a paragraph's last line, just to its right, is
the rest of that line. Paragraphs are then ordered by recursive XY cuts: split at a gap
that runs across the whole set (rows first, then columns), so two columns are read one
after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from mmstack.ingest.document import Element, ElementKind, Region, TextSource
from mmstack.models.contracts import TextLine

_MAX_GAP = 0.8  # vertical gap to the paragraph's last line, in heights of the smaller line
_MIN_OVERLAP = 0.3  # horizontal overlap, as a share of the narrower line
_MAX_HEIGHT_RATIO = 1.3  # detection pads boxes, so a 56 px title over 32 px text is 1.36
_ROW_GAP = 1.5  # horizontal gap between boxes of the same row, in line heights

T = TypeVar("T")


@dataclass(slots=True)
class TextBlock:
    """Lines read as one paragraph, with the box around them."""

    lines: list[TextLine] = field(default_factory=list)

    @property
    def box(self) -> Region:
        return union(line.box for line in self.lines)

    @property
    def text(self) -> str:
        text = ""
        for line in self.lines:
            if text.endswith("-") and line.text[:1].islower() and len(text) > 1:
                text = text[:-1] + line.text  # a word hyphenated across lines
            else:
                text = f"{text} {line.text}" if text else line.text
        return text


def union(boxes: Iterable[Region]) -> Region:
    """The smallest box around all of `boxes` (at least one)."""
    items = list(boxes)
    return (
        min(b[0] for b in items),
        min(b[1] for b in items),
        max(b[2] for b in items),
        max(b[3] for b in items),
    )


def group_lines(lines: Sequence[TextLine]) -> list[TextBlock]:
    """Paragraphs of `lines` (any order), in reading order."""
    blocks: list[TextBlock] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1], ln.box[0])):
        target = _same_row(blocks, line) or _paragraph_above(blocks, line)
        if target is None:
            blocks.append(TextBlock([line]))
        else:
            target.lines.append(line)
    return _xy_order(blocks, lambda block: block.box)


def ocr_elements(
    lines: Sequence[TextLine],
    *,
    page: int | None = None,
    thumbnail: str | None = None,
    transform: Callable[[Region], Region | None] | None = None,
) -> list[Element]:
    """One OCR paragraph element per block; `transform` maps image boxes to the region's
    coordinates (an image embedded in a PDF page, for example), None for no region."""
    elements = []
    for block in group_lines(lines):
        box = block.box
        elements.append(
            Element(
                ElementKind.PARAGRAPH,
                block.text,
                page=page,
                source=TextSource.OCR,
                region=transform(box) if transform else box,
                thumbnail=thumbnail,
            )
        )
    return elements


def _height(box: Region) -> int:
    return max(1, box[3] - box[1])


def _same_row(blocks: list[TextBlock], line: TextLine) -> TextBlock | None:
    for block in reversed(blocks):
        last = block.lines[-1].box
        box = line.box
        overlap = min(last[3], box[3]) - max(last[1], box[1])
        height = min(_height(last), _height(box))
        gap = box[0] - last[2]
        if overlap >= 0.5 * height and -0.2 * height <= gap <= _ROW_GAP * height:
            return block
    return None


def _paragraph_above(blocks: list[TextBlock], line: TextLine) -> TextBlock | None:
    box = line.box
    best: tuple[int, TextBlock] | None = None
    for block in blocks:
        last = block.lines[-1].box
        height = min(_height(last), _height(box))
        gap = box[1] - last[3]
        if not -0.3 * height <= gap <= _MAX_GAP * height:
            continue
        ratio = max(_height(last), _height(box)) / min(_height(last), _height(box))
        if ratio > _MAX_HEIGHT_RATIO:
            continue
        overlap = min(last[2], box[2]) - max(last[0], box[0])
        narrower = max(1, min(last[2] - last[0], box[2] - box[0]))
        if overlap < _MIN_OVERLAP * narrower:
            continue
        if best is None or gap < best[0]:
            best = (gap, block)
    return best[1] if best else None


def _xy_order(items: list[T], box_of: Callable[[T], Region]) -> list[T]:
    if len(items) <= 1:
        return items
    for axis in (1, 0):  # a horizontal cut (rows) first, then a vertical one (columns)
        parts = _cut(items, box_of, axis)
        if parts is not None:
            return [item for part in parts for item in _xy_order(part, box_of)]
    return sorted(items, key=lambda item: (box_of(item)[1], box_of(item)[0]))


def _cut(items: list[T], box_of: Callable[[T], Region], axis: int) -> list[list[T]] | None:
    """`items` split at every gap along `axis` (1: y, 0: x) no box spans, or None."""
    ordered = sorted(items, key=lambda item: box_of(item)[axis])
    parts: list[list[T]] = [[ordered[0]]]
    reach = box_of(ordered[0])[axis + 2]
    for item in ordered[1:]:
        box = box_of(item)
        if box[axis] >= reach:
            parts.append([item])
        else:
            parts[-1].append(item)
        reach = max(reach, box[axis + 2])
    return parts if len(parts) > 1 else None
