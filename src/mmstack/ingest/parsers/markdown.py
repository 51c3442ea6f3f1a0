"""Markdown (CommonMark + tables): headings give the sections, blocks become elements."""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from mmstack.ingest.document import ElementKind, ParsedDocument
from mmstack.media.detect import TEXT_MARKDOWN

from .builder import ElementBuilder, table_row
from .html_page import fragment_text
from .limits import ParseLimits
from .text_decode import decode_text

# YAML front matter: its first line must be a `key:`, or `---` is just a thematic break.
_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\n(?=[ \t]*[A-Za-z_][\w-]*[ \t]*:)(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S
)
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.M)


def parse(data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument:
    limits.check_input(data)
    text = decode_text(data)
    title: str | None = None
    front_matter = _FRONT_MATTER.match(text)
    if front_matter is not None:
        # YAML front matter would otherwise read as a rule plus a setext heading.
        title_line = _FRONT_MATTER_TITLE.search(front_matter.group(1))
        title = title_line.group(1).strip("'\"") if title_line else None
        text = text[front_matter.end() :]
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    builder = ElementBuilder(limits)
    _TokenWalker(builder, limits.max_html_depth).walk(tokens)
    if title is None:
        title = next((e.text for e in builder.elements if e.level == 1), None)
    return builder.finish(TEXT_MARKDOWN, title=title)


def _inline_text(token: Token) -> str:
    if token.children is None:
        return token.content
    parts: list[str] = []
    for child in token.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)  # the alt text
    return "".join(parts).strip()


class _TokenWalker:
    """Turns markdown-it's flat token stream into elements.

    Everything inside a top-level list (nested lists, code, tables) becomes lines of one
    LIST element; tables outside lists become one TABLE element each.
    """

    def __init__(self, builder: ElementBuilder, max_html_depth: int) -> None:
        self._builder = builder
        self._max_html_depth = max_html_depth
        self._lists: list[list[int]] = []  # per open list: [next number] or [] if bulleted
        self._list_lines: list[str] = []
        self._item_prefix = ""  # marker of the item whose first line is still to come
        self._table_rows: list[list[str]] | None = None
        self._heading_level = 0

    def walk(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            handler = getattr(self, "_on_" + token.type, None)
            if handler is not None:
                handler(token)

    def _on_heading_open(self, token: Token) -> None:
        self._heading_level = int(token.tag[1:])

    def _on_heading_close(self, token: Token) -> None:
        self._heading_level = 0

    def _on_inline(self, token: Token) -> None:
        text = _inline_text(token)
        if self._table_rows is not None:
            self._table_rows[-1].append(" ".join(text.split()))
        elif self._lists:
            self._list_line(text)
        elif self._heading_level:
            self._builder.heading(text, self._heading_level)
        else:
            self._builder.add(ElementKind.PARAGRAPH, text)

    def _on_fence(self, token: Token) -> None:
        if self._lists:
            self._list_line(token.content.rstrip("\n"))
        else:
            self._builder.add(ElementKind.CODE, token.content)

    _on_code_block = _on_fence

    def _on_html_block(self, token: Token) -> None:
        text = fragment_text(token.content, max_depth=self._max_html_depth)
        if self._lists:
            self._list_line(text)
        else:
            self._builder.add(ElementKind.PARAGRAPH, text)

    def _on_bullet_list_open(self, token: Token) -> None:
        self._lists.append([])

    def _on_ordered_list_open(self, token: Token) -> None:
        start = token.attrGet("start")
        self._lists.append([int(start) if isinstance(start, int | str) else 1])

    def _on_bullet_list_close(self, token: Token) -> None:
        self._lists.pop()
        if not self._lists:
            self._builder.add(ElementKind.LIST, "\n".join(self._list_lines))
            self._list_lines.clear()

    _on_ordered_list_close = _on_bullet_list_close

    def _on_list_item_open(self, token: Token) -> None:
        counter = self._lists[-1]
        if counter:
            marker = f"{counter[0]}."
            counter[0] += 1
        else:
            marker = "-"
        self._item_prefix = "  " * (len(self._lists) - 1) + marker + " "

    def _list_line(self, text: str) -> None:
        if not text:
            return
        indent = "  " * len(self._lists)
        prefix = self._item_prefix or indent
        self._item_prefix = ""
        self._list_lines.append(prefix + text.replace("\n", "\n" + indent))

    def _on_table_open(self, token: Token) -> None:
        self._table_rows = []

    def _on_tr_open(self, token: Token) -> None:
        if self._table_rows is not None:
            self._table_rows.append([])

    def _on_table_close(self, token: Token) -> None:
        rows = self._table_rows or []
        self._table_rows = None
        text = "\n".join(table_row(row) for row in rows if any(row))
        if self._lists:
            self._list_line(text)
        else:
            self._builder.add(ElementKind.TABLE, text)
