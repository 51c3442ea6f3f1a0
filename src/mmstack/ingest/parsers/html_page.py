"""HTML: the readable content of a page, without scripts, styles and navigation chrome."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

from mmstack.errors import IngestError
from mmstack.ingest.document import ElementKind, ParsedDocument
from mmstack.media.detect import TEXT_HTML

from .builder import ElementBuilder, collapse_whitespace, table_row
from .limits import ParseLimits
from .text_decode import decode_text, sniff_bom

_DROPPED_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "head", "title", "meta", "link",
        "nav", "footer", "aside", "form", "button", "select", "textarea", "dialog",
        "iframe", "object", "embed", "svg", "canvas", "video", "audio", "map",
    }
)  # fmt: skip
_DROPPED_ROLES = frozenset({"navigation", "contentinfo", "search", "banner"})
_HEADING_LEVELS = {f"h{n}": n for n in range(1, 7)}
_LIST_TAGS = frozenset({"ul", "ol", "menu"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "header", "hgroup",
        "hr", "html", "legend", "li", "main", "p", "section", "summary", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr",
    }
)  # fmt: skip
_TAG = re.compile(r"<(/)?([A-Za-z][A-Za-z0-9:-]*)(?:\s[^>]*?)?(/)?>")
_RAW_TEXT = re.compile(r"(?is)<(script|style|textarea|title|xmp|plaintext)\b.*?</\1\s*>")
_NOT_NESTING = frozenset(
    {
        # void elements
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "param", "keygen",
        # end tag optional: closed by the next sibling or the parent's end
        "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option",
        "optgroup", "rb", "rt", "rp", "rtc", "colgroup", "caption", "html", "head", "body",
        # formatting, often left open on old pages; the tree builder bounds what they cost
        "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong",
        "tt", "u",
    }
)  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def parse(data: bytes, *, filename: str, limits: ParseLimits) -> ParsedDocument:
    limits.check_input(data)
    text = decode_text(data, encoding=_declared_encoding(data))
    check_nesting(text, limits.max_html_depth)
    tree = LexborHTMLParser(text)
    builder = ElementBuilder(limits)
    root = tree.body or tree.root
    if root is not None:
        _BlockWalker(builder).walk(root)
    title_node = tree.css_first("head title")
    title = title_node.text(deep=True) if title_node is not None else None
    if not title or title.isspace():
        title = next((e.text for e in builder.elements if e.level == 1), None)
    return builder.finish(TEXT_HTML, empty_reason="HTML page contains no visible text", title=title)


def check_nesting(html: str, max_depth: int) -> None:
    """Refuse HTML whose elements nest deeper than `max_depth`, from its tags alone (before
    the tree builder, whose time grows faster than the depth). Elements that close
    themselves, whose end tag may be left out (`<p>`, `<li>`, `<td>`...) or that old pages
    leave open (`<font>`, `<b>`) do not count, so a sloppy page is not mistaken for a deep
    one."""
    depth = 0
    for match in _TAG.finditer(_RAW_TEXT.sub("", html)):
        closing, name, self_closing = match.groups()
        name = name.lower()
        if name in _NOT_NESTING or self_closing:
            continue
        if closing:
            depth = max(depth - 1, 0)
            continue
        depth += 1
        if depth > max_depth:
            raise IngestError(
                f"HTML nests elements more than {max_depth} deep (near character "
                f"{match.start():,}), over the limit"
            )


def fragment_text(html: str, *, max_depth: int) -> str:
    """The visible text of an HTML fragment, on one line (for HTML embedded in Markdown)."""
    check_nesting(html, max_depth)
    root = LexborHTMLParser(html).body
    return "" if root is None else _inline_text(root)


def _declared_encoding(data: bytes) -> str:
    """The charset a `<meta>` tag declares, if Python knows it; UTF-8 otherwise."""
    if sniff_bom(data) is not None:
        return "utf-8"  # decode_text lets the BOM win
    match = _META_CHARSET.search(data, 0, 4096)
    if match is None:
        return "utf-8"
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return "utf-8"
    # A declaration readable as ASCII cannot be in a UTF-16/32 file without a BOM.
    return "utf-8" if name.startswith(("utf-16", "utf-32")) else name


def _children(node: LexborNode) -> Iterator[LexborNode]:
    child = node.first_child
    while child is not None:
        yield child
        child = child.next


def _is_dropped(node: LexborNode) -> bool:
    if node.tag in _DROPPED_TAGS:
        return True
    attributes = node.attributes
    return (
        "hidden" in attributes
        or attributes.get("aria-hidden") == "true"
        or attributes.get("role") in _DROPPED_ROLES
    )


def _inline_text(node: LexborNode, nested_lists: list[LexborNode] | None = None) -> str:
    """All visible text under `node` on one line; lists are set aside when asked to."""
    parts: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_text_node:
            parts.append(current.text_content or "")
            continue
        if not current.is_element_node or _is_dropped(current):
            continue
        tag = current.tag or ""
        if nested_lists is not None and current is not node and tag in _LIST_TAGS:
            nested_lists.append(current)
            continue
        if tag == "br" or tag in _BLOCK_TAGS:
            parts.append(" ")
        stack.extend(reversed(list(_children(current))))
    return collapse_whitespace("".join(parts))


def _list_text(root: LexborNode) -> str:
    """A list as "- item" / "1. item" lines, nested lists indented below their item."""
    lines: list[str] = []
    # Work items: a list to expand at a depth, or a finished line.
    stack: list[tuple[LexborNode, int] | str] = [(root, 0)]
    while stack:
        work = stack.pop()
        if isinstance(work, str):
            lines.append(work)
            continue
        node, depth = work
        ordered = node.tag == "ol"
        number = _int_attribute(node, "start", 1)
        pending: list[tuple[LexborNode, int] | str] = []
        for item in _children(node):
            if item.tag in _LIST_TAGS:
                pending.append((item, depth + 1))
                continue
            if item.tag != "li" or _is_dropped(item):
                continue
            nested: list[LexborNode] = []
            text = _inline_text(item, nested)
            marker = f"{number}." if ordered else "-"
            number += 1
            if text:
                pending.append(f"{'  ' * depth}{marker} {text}")
            pending.extend((child, depth + 1) for child in nested)
        stack.extend(reversed(pending))
    return "\n".join(lines)


def _table_text(table: LexborNode) -> str:
    """Rows as "cell | cell" lines; a caption comes first."""
    lines: list[str] = []
    for part in _children(table):
        if part.tag == "caption":
            lines.append(_inline_text(part))
        rows = [part] if part.tag == "tr" else []
        if part.tag in ("thead", "tbody", "tfoot"):
            rows = [row for row in _children(part) if row.tag == "tr"]
        for row in rows:
            cells = [_inline_text(cell) for cell in _children(row) if cell.tag in ("td", "th")]
            if any(cells):
                lines.append(table_row(cells))
    return "\n".join(line for line in lines if line)


def _int_attribute(node: LexborNode, name: str, default: int) -> int:
    value = node.attributes.get(name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class _BlockWalker:
    """Walks the body in document order, turning block structure into elements.

    Iterative on purpose: pages nested thousands of levels deep must not hit the recursion
    limit.
    """

    def __init__(self, builder: ElementBuilder) -> None:
        self._builder = builder
        self._inline: list[str] = []

    def walk(self, root: LexborNode) -> None:
        stack: list[LexborNode | None] = [root]  # None: the end of a block
        while stack:
            node = stack.pop()
            if node is None:
                self._flush()
            elif node.is_text_node:
                self._inline.append(node.text_content or "")
            elif node.is_element_node and not _is_dropped(node):
                tag = node.tag or ""
                if not self._emit(node, tag):
                    if tag in _BLOCK_TAGS:
                        self._flush()
                        stack.append(None)
                    stack.extend(reversed(list(_children(node))))
        self._flush()

    def _emit(self, node: LexborNode, tag: str) -> bool:
        """Handle the elements that become one element each; False for the others."""
        if tag == "br":
            self._inline.append("\n")
            return True
        level = _HEADING_LEVELS.get(tag)
        if level is not None:
            self._flush()
            self._builder.heading(_inline_text(node), level)
        elif tag in _LIST_TAGS:
            self._flush()
            self._builder.add(ElementKind.LIST, _list_text(node))
        elif tag == "table":
            self._flush()
            self._builder.add(ElementKind.TABLE, _table_text(node))
        elif tag == "pre":
            self._flush()
            self._builder.add(ElementKind.CODE, node.text(deep=True))
        else:
            return False
        return True

    def _flush(self) -> None:
        if not self._inline:
            return
        lines = "".join(self._inline).split("\n")
        self._inline.clear()
        text = "\n".join(filter(None, (collapse_whitespace(line) for line in lines)))
        self._builder.add(ElementKind.PARAGRAPH, text)
