"""Document parsers: every input is built here; bad input must fail with a clear IngestError."""

from __future__ import annotations

import codecs
import io
import json
import random
import time
import zipfile
from collections.abc import Callable, Sequence

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from fpdf import FPDF

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ElementKind, ParsedDocument
from mmstack.ingest.parsers import (
    SUPPORTED_EXTENSIONS,
    ParseLimits,
    detect_media_type,
    parse_document,
)

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def texts(document: ParsedDocument, kind: ElementKind | None = None) -> list[str]:
    return [e.text for e in document.elements if kind is None or e.kind is kind]


def only(document: ParsedDocument, kind: ElementKind) -> Element:
    matches = [e for e in document.elements if e.kind is kind]
    assert len(matches) == 1, matches
    return matches[0]


def fails(data: bytes, filename: str, limits: ParseLimits | None = None) -> str:
    with pytest.raises(IngestError) as caught:
        parse_document(data, filename=filename, limits=limits)
    return caught.value.message


# --- builders ---------------------------------------------------------------------------


def make_pdf(
    pages: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    user_password: str | None = None,
    encrypt: bool = False,
) -> bytes:
    """One page per entry; each string a paragraph, wrapped over several lines."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    for paragraphs in pages:
        pdf.add_page()
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(6)
    if encrypt or user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    return bytes(pdf.output())


def make_docx(build: Callable[[docx.document.Document], None]) -> bytes:
    document = docx.Document()
    build(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """A small .docx-shaped zip whose document part inflates to 200 MiB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        chunk = bytes(1024 * 1024)
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(200):
                member.write(chunk)
    return buffer.getvalue()


# --- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("notes.txt", "text/plain"),
        ("README.MD", "text/markdown"),
        ("page.htm", "text/html"),
        ("report.pdf", "application/pdf"),
        ("letter.docx", DOCX_TYPE),
        ("table.csv", "text/csv"),
        ("table.tsv", "text/csv"),
        ("data.json", "application/json"),
        ("events.jsonl", "application/x-ndjson"),
        ("../../etc/passwd.txt", "text/plain"),
        ("C:\\Users\\x\\..\\Report.PDF", "application/pdf"),
    ],
)
def test_detect_by_extension(filename: str, expected: str) -> None:
    assert detect_media_type(filename, b"plain content") == expected


def test_detect_rejects_unsupported_extension_listing_supported_ones() -> None:
    with pytest.raises(IngestError) as caught:
        detect_media_type("archive.xyz", b"")
    assert caught.value.message.startswith("unsupported file type '.xyz' (supported: .csv, ")
    assert ".docx" in caught.value.message
    assert ".pdf" in caught.value.message
    assert list(SUPPORTED_EXTENSIONS) == sorted(SUPPORTED_EXTENSIONS)


def test_detect_rejects_a_name_without_extension() -> None:
    for name in ("Makefile", ".txt", "dir.txt/"):
        with pytest.raises(IngestError, match="has no extension"):
            detect_media_type(name, b"text")


def test_detect_sends_real_pdf_content_to_the_pdf_parser_whatever_the_extension() -> None:
    assert detect_media_type("misnamed.txt", b"%PDF-1.7\n") == "application/pdf"
    # The opposite mismatch keeps the extension's parser, which then says what is wrong.
    assert detect_media_type("fake.pdf", b"PK\x03\x04") == "application/pdf"
    assert detect_media_type("fake.docx", b"hello") == DOCX_TYPE


# --- input checks common to all formats ---------------------------------------------------


@pytest.mark.parametrize("filename", ["a.txt", "a.md", "a.html", "a.pdf", "a.docx", "a.csv"])
def test_empty_file(filename: str) -> None:
    assert fails(b"", filename) == "file is empty"


@pytest.mark.parametrize("filename", ["a.txt", "a.md", "a.html", "a.csv", "a.json", "a.jsonl"])
def test_whitespace_only_text(filename: str) -> None:
    assert fails(b" \n\t\r\n  \n", filename) == "file contains only whitespace"


def test_file_over_the_size_limit() -> None:
    message = fails(b"x" * 2048, "big.txt", ParseLimits(max_bytes=1024))
    assert message == "file is 2.0 KiB, over the 1.0 KiB limit"


def test_element_limit() -> None:
    data = "\n\n".join(f"paragraph {i}" for i in range(20)).encode()
    message = fails(data, "many.txt", ParseLimits(max_elements=10))
    assert message.startswith("document has more than 10 text blocks")


# --- plain text -----------------------------------------------------------------------------


def test_plain_text_paragraphs() -> None:
    data = b"First paragraph,\nstill first.\r\n\r\n  \nSecond paragraph.\n\n\n\nThird."
    document = parse_document(data, filename="../../etc/passwd.txt")
    assert document.media_type == "text/plain"
    assert texts(document) == ["First paragraph,\nstill first.", "Second paragraph.", "Third."]
    assert all(e.kind is ElementKind.PARAGRAPH and e.heading_path == () for e in document.elements)


def test_plain_text_invalid_utf8_reports_the_byte_offset() -> None:
    data = "caf\u00e9\n".encode() + b"line two \xe9t\xe9\n"
    message = fails(data, "latin.txt")
    assert message == (
        "text is not valid UTF-8: invalid byte 0xe9 at byte offset 15 (line 2); "
        "re-save the file as UTF-8"
    )


def test_plain_text_byte_order_marks() -> None:
    utf8 = parse_document(codecs.BOM_UTF8 + "Grüße\n\nzwei".encode(), filename="a.txt")
    assert texts(utf8) == ["Grüße", "zwei"]
    utf16 = parse_document("Grüße\r\n\r\nzwei".encode("utf-16"), filename="a.txt")
    assert texts(utf16) == ["Grüße", "zwei"]
    odd = codecs.BOM_UTF16_LE + "ok".encode("utf-16-le") + b"\x00"
    assert "text is not valid UTF-16-LE" in fails(odd, "a.txt")


def test_plain_text_rejects_binary_content() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    assert fails(png, "photo.txt") == "file content is a PNG image, not text"
    assert "NUL characters" in fails(b"abc\x00def", "blob.txt")


def test_plain_text_is_cheap_on_big_files() -> None:
    paragraph = "All work and no play makes Jack a dull boy. " * 20
    data = "\n\n".join(paragraph for _ in range(10_000)).encode()  # about 9 MB
    start = time.perf_counter()
    document = parse_document(data, filename="big.txt")
    elapsed = time.perf_counter() - start
    assert len(document.elements) == 10_000
    assert elapsed < 5.0


# --- Markdown -------------------------------------------------------------------------------

MARKDOWN = b"""---
title: "The Handbook"
---
# Setup

Install the *tool* with `pip`.
Then run it.

## Requirements

- Python 3.11
  - with venv
- a C compiler

1. download
2. install

### Ports

| Service | Port |
|---------|------|
| API     | 8000 |

```bash
mmstack serve
  --port 8000
```

# Usage

Plain words.
"""


def test_markdown_structure_and_heading_paths() -> None:
    document = parse_document(MARKDOWN, filename="guide.md")
    assert document.title == "The Handbook"
    summary = [(e.kind, e.text, e.heading_path) for e in document.elements]
    setup, reqs, ports = ("Setup",), ("Setup", "Requirements"), ("Setup", "Requirements", "Ports")
    assert summary == [
        (ElementKind.HEADING, "Setup", setup),
        (ElementKind.PARAGRAPH, "Install the tool with pip. Then run it.", setup),
        (ElementKind.HEADING, "Requirements", reqs),
        (ElementKind.LIST, "- Python 3.11\n  - with venv\n- a C compiler", reqs),
        (ElementKind.LIST, "1. download\n2. install", reqs),
        (ElementKind.HEADING, "Ports", ports),
        (ElementKind.TABLE, "Service | Port\nAPI | 8000", ports),
        (ElementKind.CODE, "mmstack serve\n  --port 8000", ports),
        (ElementKind.HEADING, "Usage", ("Usage",)),
        (ElementKind.PARAGRAPH, "Plain words.", ("Usage",)),
    ]
    assert [e.level for e in document.elements if e.kind is ElementKind.HEADING] == [1, 2, 3, 1]


def test_markdown_title_falls_back_to_the_first_h1() -> None:
    document = parse_document(b"intro\n\n# Real Title\n\ntext", filename="a.markdown")
    assert document.title == "Real Title"


def test_markdown_leading_rule_is_not_mistaken_for_front_matter() -> None:
    document = parse_document(b"---\nNot YAML at all\n---\n\nBody.", filename="a.md")
    assert [(e.kind, e.text) for e in document.elements] == [
        (ElementKind.HEADING, "Not YAML at all"),
        (ElementKind.PARAGRAPH, "Body."),
    ]


def test_markdown_with_only_markup_has_no_text() -> None:
    assert fails(b"---\n\n***\n\n<!-- a comment -->\n", "empty.md") == "document contains no text"


# --- HTML -----------------------------------------------------------------------------------

HTML = b"""<!doctype html>
<html><head><meta charset="utf-8"><title> Release  Notes </title>
<style>body { color: red }</style><script>alert("tracking")</script></head>
<body>
<nav><a href="/">Home</a> <a href="/docs">Docs</a></nav>
<h1>Version 2</h1>
<p>The <b>fast</b> release.<br>Second line.</p>
<div>Loose text in a div</div>
<h2>Changes</h2>
<ul><li>faster parsing<ul><li>PDF</li></ul></li><li>fewer bugs</li></ul>
<table><tr><th>Name</th><th>Value</th></tr><tr><td>limit</td><td><p>10</p><p>MB</p></td></tr></table>
<pre>  indented
    code</pre>
<h2>Known issues</h2>
<p hidden>secret</p><p aria-hidden="true">also hidden</p>
<p>None so far.</p>
<footer>Copyright footer</footer>
<noscript>enable js</noscript>
</body></html>"""


def test_html_content_without_chrome() -> None:
    document = parse_document(HTML, filename="notes.html")
    assert document.title == "Release Notes"
    summary = [(e.kind, e.text, e.heading_path) for e in document.elements]
    v2, changes, issues = ("Version 2",), ("Version 2", "Changes"), ("Version 2", "Known issues")
    assert summary == [
        (ElementKind.HEADING, "Version 2", v2),
        (ElementKind.PARAGRAPH, "The fast release.\nSecond line.", v2),
        (ElementKind.PARAGRAPH, "Loose text in a div", v2),
        (ElementKind.HEADING, "Changes", changes),
        (ElementKind.LIST, "- faster parsing\n  - PDF\n- fewer bugs", changes),
        (ElementKind.TABLE, "Name | Value\nlimit | 10 MB", changes),
        (ElementKind.CODE, "  indented\n    code", changes),
        (ElementKind.HEADING, "Known issues", issues),
        (ElementKind.PARAGRAPH, "None so far.", issues),
    ]
    everything = " ".join(texts(document))
    for dropped in ("tracking", "color", "Home", "Copyright", "secret", "hidden", "enable js"):
        assert dropped not in everything


def test_html_declared_charset_is_honoured() -> None:
    data = '<meta charset="windows-1252"><p>Caf\u00e9 \u20ac5</p>'.encode("cp1252")
    assert texts(parse_document(data, filename="old.htm")) == ["Café €5"]


def test_html_invalid_utf8() -> None:
    message = fails(b"<p>ok</p>\n<p>bad \xff byte</p>", "page.html")
    assert message.startswith(
        "text is not valid UTF-8: invalid byte 0xff at byte offset 17 (line 2)"
    )


def test_html_nested_too_deep_is_refused_from_its_tags() -> None:
    """200,000 nested divs (2.2 MB) held the only worker for 135 s: the tree builder's
    time grows faster than the depth. Refused before it runs."""
    deep = b"<html><body>" + b"<div>" * 200_000 + b"x" + b"</div>" * 200_000
    message = fails(deep, "deep.html")
    assert message.startswith("HTML nests elements more than 512 deep (near character ")
    assert fails(b"<section>" * 40, "d.html", ParseLimits(max_html_depth=32)).startswith(
        "HTML nests elements more than 32 deep"
    )


def test_html_in_markdown_is_held_to_the_same_depth() -> None:
    deep = b"# Notes\n\n" + b"<div>" * 2000 + b"x" + b"</div>" * 2000 + b"\n"
    assert fails(deep, "notes.md").startswith("HTML nests elements more than 512 deep")


def test_html_that_is_sloppy_but_not_deep_is_read() -> None:
    """Unclosed paragraphs, items and old formatting tags, tags in scripts, and nesting
    up to the limit are no reason to refuse a page."""
    sloppy = (
        b"<ul>" + b"<li>item <font color=red>red <b>bold" * 2000 + b"</ul>"
        + b"<p>para" * 2000
        + b"<script>var s = '" + b"<div>" * 2000 + b"';</script>"
        + b"<div>" * 500 + b"Deep enough" + b"</div>" * 500
    )  # fmt: skip
    document = parse_document(sloppy, filename="old.html")
    assert "Deep enough" in texts(document)[-1]
    assert sum("para" in t for t in texts(document)) >= 1


def test_html_without_visible_text() -> None:
    data = b"<html><head><title>T</title><script>x()</script></head><body> </body></html>"
    assert fails(data, "blank.html") == "HTML page contains no visible text"


def test_deeply_nested_html_does_not_hit_the_recursion_limit() -> None:
    data = b"<div>" * 5000 + b"deep text" + b"</div>" * 5000
    document = parse_document(data, filename="deep.html", limits=ParseLimits(max_html_depth=6000))
    assert texts(document) == ["deep text"]


# --- PDF ------------------------------------------------------------------------------------

FOX = "The quick brown fox jumps over the lazy dog near the river bank. " * 4
PAGES = [
    ["Page one opens with the alpha sentence. " + FOX, "A second paragraph about beta. " + FOX],
    ["Page two talks about gamma rays. " + FOX],
    ["Page three ends with the delta conclusion. " + FOX],
]


def test_pdf_text_pages_and_paragraphs() -> None:
    document = parse_document(make_pdf(PAGES, title="Greek Letters"), filename="letters.pdf")
    assert document.media_type == "application/pdf"
    assert document.page_count == 3
    assert document.title == "Greek Letters"
    assert all(e.kind is ElementKind.PARAGRAPH for e in document.elements)
    assert [e.page for e in document.elements] == [1, 1, 2, 3]
    expected = [" ".join(paragraph.split()) for page in PAGES for paragraph in page]
    assert texts(document) == expected


def test_pdf_with_only_an_owner_password_is_readable() -> None:
    document = parse_document(make_pdf([["Open to everyone."]], encrypt=True), filename="o.pdf")
    assert texts(document) == ["Open to everyone."]


def test_pdf_encrypted() -> None:
    data = make_pdf([["Top secret."]], user_password="hunter2")
    assert fails(data, "secret.pdf") == "PDF is encrypted (password-protected)"


def test_pdf_truncated() -> None:
    data = make_pdf(PAGES)
    message = fails(data[: len(data) // 2], "cut.pdf")
    assert message == "PDF is truncated: it does not end with %%EOF and cannot be read"


def test_pdf_corrupt_but_complete() -> None:
    data = b"%PDF-1.7\n" + bytes(random.Random(1).randbytes(3000)) + b"\n%%EOF\n"
    assert fails(data, "garbage.pdf") == "PDF is corrupt: PDFium cannot read its structure"


def test_pdf_that_is_not_a_pdf() -> None:
    assert fails(b"just some text", "fake.pdf") == "not a PDF file (no %PDF- header)"
    zipped = make_zip({"a.txt": b"hello"})
    assert fails(zipped, "fake.pdf") == "not a PDF file: the content is a ZIP archive"


def test_pdf_without_text_layer() -> None:
    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")  # stands in for a scanned image
    message = fails(bytes(pdf.output()), "scan.pdf")
    assert message == "no extractable text (scanned PDF? OCR is not enabled)"


def test_pdf_page_limit() -> None:
    data = make_pdf([["one"], ["two"], ["three"]])
    assert fails(data, "long.pdf", ParseLimits(max_pages=2)) == (
        "PDF has 3 pages, over the limit of 2"
    )


def test_pdf_content_under_another_extension_is_parsed_as_pdf() -> None:
    document = parse_document(make_pdf([["Hidden in a text file."]]), filename="misnamed.txt")
    assert document.media_type == "application/pdf"
    assert texts(document) == ["Hidden in a text file."]


# --- DOCX -----------------------------------------------------------------------------------


def build_report(document: docx.document.Document) -> None:
    document.core_properties.title = "Quarterly Report"
    document.core_properties.author = "Ada"
    document.add_paragraph("Preface before any heading.")
    document.add_heading("Results", level=1)
    document.add_paragraph("Revenue grew.")
    document.add_heading("By region", level=2)
    table = document.add_table(rows=3, cols=2)
    for row, values in zip(
        table.rows, [("Region", "Sales"), ("North", "10"), ("South", "")], strict=True
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("first point", style="List Bullet")
    document.add_paragraph("second point", style="List Bullet")
    document.add_heading("Outlook", level=1)
    document.add_paragraph("Flat.")


def test_docx_headings_tables_and_lists() -> None:
    document = parse_document(make_docx(build_report), filename="report.docx")
    assert document.media_type == DOCX_TYPE
    assert document.title == "Quarterly Report"
    assert document.metadata == {"author": "Ada"}
    summary = [(e.kind, e.text, e.heading_path) for e in document.elements]
    results, region = ("Results",), ("Results", "By region")
    assert summary == [
        (ElementKind.PARAGRAPH, "Preface before any heading.", ()),
        (ElementKind.HEADING, "Results", results),
        (ElementKind.PARAGRAPH, "Revenue grew.", results),
        (ElementKind.HEADING, "By region", region),
        (ElementKind.TABLE, "Region | Sales\nNorth | 10\nSouth |", region),
        (ElementKind.LIST, "- first point\n- second point", region),
        (ElementKind.HEADING, "Outlook", ("Outlook",)),
        (ElementKind.PARAGRAPH, "Flat.", ("Outlook",)),
    ]


def test_docx_title_style_and_merged_cells() -> None:
    def build(document: docx.document.Document) -> None:
        document.add_heading("Style Title", level=0)
        table = document.add_table(rows=2, cols=3)
        table.cell(0, 0).merge(table.cell(0, 2)).text = "merged header"
        for cell, value in zip(table.rows[1].cells, ["a", "b", "c"], strict=True):
            cell.text = value

    document = parse_document(make_docx(build), filename="t.docx")
    assert document.title == "Style Title"
    assert only(document, ElementKind.TITLE).text == "Style Title"
    assert only(document, ElementKind.TABLE).text == "merged header\na | b | c"


def test_docx_numbered_and_custom_heading_styles() -> None:
    def build(document: docx.document.Document) -> None:
        # Numbered headings: the Heading 1 style itself carries list numbering.
        heading_ppr = document.styles["Heading 1"].element.get_or_add_pPr()
        num_pr = OxmlElement("w:numPr")
        num_id = OxmlElement("w:numId")
        num_id.set(qn("w:val"), "1")
        num_pr.append(num_id)
        heading_ppr.append(num_pr)
        # A custom style known only by its outline level, as localized Word writes them.
        custom = document.styles.add_style("Kapitel", WD_STYLE_TYPE.PARAGRAPH)
        outline = OxmlElement("w:outlineLvl")
        outline.set(qn("w:val"), "1")
        custom.element.get_or_add_pPr().append(outline)
        document.add_heading("Introduction", level=1)
        document.add_paragraph("Chapter", style="Kapitel")
        document.add_paragraph("Body text.")

    document = parse_document(make_docx(build), filename="numbered.docx")
    assert [(e.kind, e.text, e.heading_path, e.level) for e in document.elements] == [
        (ElementKind.HEADING, "Introduction", ("Introduction",), 1),
        (ElementKind.HEADING, "Chapter", ("Introduction", "Chapter"), 2),
        (ElementKind.PARAGRAPH, "Body text.", ("Introduction", "Chapter"), None),
    ]


def test_docx_zip_bomb_is_refused_before_extraction(
    zip_bomb: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []

    def no_extraction(self: zipfile.ZipFile, name: object, *args: object, **kwargs: object) -> None:
        opened.append(name)
        raise AssertionError("a zip member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_extraction)
    assert len(zip_bomb) < 1024 * 1024
    message = fails(zip_bomb, "invoice.docx")
    assert message.startswith(
        "DOCX looks like a zip bomb: part 'word/document.xml' expands from 199.1 KiB to "
        "200.0 MiB (ratio "
    )
    assert message.endswith(":1, limit 100:1)")
    assert opened == []


def test_docx_total_uncompressed_size_limit() -> None:
    data = make_docx(build_report)
    message = fails(data, "report.docx", ParseLimits(max_uncompressed_bytes=20_000))
    assert message == "DOCX is too large uncompressed: its parts add up to more than 19.5 KiB"


def _docx_with_body(body: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(make_docx(build_report))) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    namespace = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    document = b"<w:document " + namespace + b"><w:body>" + body + b"</w:body></w:document>"
    return make_zip({**parts, "word/document.xml": document})


def test_docx_part_over_its_own_limit_is_refused_before_inflating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 24 MB DOCX whose document.xml is 240 MB passed the checks (the ratio was 10:1)
    and took the worker past 4 GB: each part has a limit of its own (scaled down here)."""
    rng = random.Random(7)
    words = [bytes(rng.choice(b"abcdefghij") for _ in range(6)) for _ in range(4000)]
    text = b" ".join(rng.choice(words) for _ in range(200_000))  # inflates about 4:1
    data = _docx_with_body(b"<w:p><w:r><w:t>" + text + b"</w:t></w:r></w:p>")
    opened: list[object] = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda _self, name, *a, **k: opened.append(name))
    message = fails(data, "big.docx", ParseLimits(max_part_bytes=1024 * 1024))
    assert message.startswith("DOCX part 'word/document.xml' is 1.3 MiB uncompressed, over")
    assert message.endswith("the limit of 1.0 MiB")
    assert opened == []


def test_docx_elements_are_counted_as_they_stream() -> None:
    """Small, but millions of elements to parse: refused while counting, before a tree."""
    data = _docx_with_body(b"<w:p/>" * 300_000)
    assert len(data) < 100_000
    limits = ParseLimits(max_xml_elements=200_000, max_compression_ratio=10_000)
    assert fails(data, "many.docx", limits) == (
        "DOCX has more than 200,000 XML elements, over the limit"
    )
    within = _docx_with_body(b"<w:p><w:r><w:t>Enough.</w:t></w:r></w:p>" * 10)
    assert parse_document(within, filename="ok.docx").elements


def test_docx_that_is_not_a_zip() -> None:
    assert fails(b"plain text pretending", "fake.docx") == (
        "not a DOCX file: it is not a ZIP archive"
    )
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)
    assert fails(ole2, "legacy.docx") == (
        "not a DOCX file: the content is an OLE2 compound file (a legacy .doc/.xls, "
        "or a password-protected Office document)"
    )


def test_docx_truncated_zip() -> None:
    data = make_docx(build_report)
    message = fails(data[: len(data) // 2], "cut.docx")
    assert message.startswith("DOCX is corrupt: not a readable ZIP archive (")


def test_docx_zip_that_is_not_a_word_document() -> None:
    plain_zip = make_zip({"notes.txt": b"hello"})
    assert fails(plain_zip, "notes.docx") == (
        "not a DOCX file: a ZIP archive without [Content_Types].xml"
    )
    workbook = make_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
    assert fails(workbook, "sheet.docx") == (
        "not a DOCX file: the content is an Excel workbook (.xlsx)"
    )


def test_docx_with_broken_parts() -> None:
    with zipfile.ZipFile(io.BytesIO(make_docx(build_report))) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    missing = make_zip({k: v for k, v in parts.items() if k != "word/document.xml"})
    assert fails(missing, "missing.docx") == (
        "DOCX is corrupt: a required part is missing "
        "(There is no item named 'word/document.xml' in the archive)"
    )
    malformed = make_zip({**parts, "word/document.xml": b"<w:document><w:body>"})
    assert fails(malformed, "malformed.docx").startswith(
        "DOCX is corrupt: part 'word/document.xml' is not well-formed XML ("
    )


def test_docx_without_text() -> None:
    def build(document: docx.document.Document) -> None:
        document.add_paragraph("   ")
        document.add_table(rows=2, cols=2)

    assert fails(make_docx(build), "blank.docx") == "DOCX contains no text"


# --- CSV ------------------------------------------------------------------------------------


def test_csv_rows_become_records() -> None:
    data = b'name,city,note\nAlice,Paris,"likes ""tea"", a lot"\n\nBob,,"two\nlines",extra\n'
    document = parse_document(data, filename="people.csv")
    assert document.media_type == "text/csv"
    assert all(e.kind is ElementKind.RECORD for e in document.elements)
    assert texts(document) == [
        'name: Alice; city: Paris; note: likes "tea", a lot',
        "name: Bob; note: two lines; column 4: extra",
    ]
    assert document.metadata["columns"] == ["name", "city", "note"]
    assert document.metadata["rows"] == 2


def test_csv_dialect_is_sniffed() -> None:
    semicolons = parse_document(b'id;label\n1;"a; b"\n2;c\n', filename="x.csv")
    assert texts(semicolons) == ["id: 1; label: a; b", "id: 2; label: c"]
    tabs = parse_document(b"id\tlabel\n1\tone\n", filename="x.tsv")
    assert texts(tabs) == ["id: 1; label: one"]


def test_csv_inconsistent_quoting() -> None:
    data = b'name,quote\nalice,"she said "hi" twice"\nbob,ok\n'
    assert fails(data, "quotes.csv") == "CSV is malformed at line 2: ',' expected after '\"'"
    unterminated = b'a,b\n1,"never closed\n2,3\n'
    assert fails(unterminated, "open.csv") == "CSV is malformed at line 3: unexpected end of data"


def test_csv_header_only() -> None:
    assert fails(b"name,age\n", "empty.csv") == "CSV has a header row but no data rows"


def test_csv_invalid_utf8() -> None:
    message = fails(b"name\nJos\xe9\n", "latin.csv")
    assert "invalid byte 0xe9 at byte offset 8 (line 2)" in message


# --- JSON -----------------------------------------------------------------------------------


def test_json_array_of_objects() -> None:
    data = json.dumps(
        [
            {"id": 1, "name": "Ada", "tags": ["math", "code"], "address": {"city": "London"}},
            {"id": 2, "name": "Alan", "active": False, "pets": [{"kind": "cat"}], "boss": None},
        ]
    ).encode()
    document = parse_document(data, filename="people.json")
    assert document.media_type == "application/json"
    assert [e.kind for e in document.elements] == [ElementKind.RECORD] * 2
    assert texts(document) == [
        "id: 1\nname: Ada\ntags: math, code\naddress.city: London",
        "id: 2\nname: Alan\nactive: false\npets[0].kind: cat\nboss: null",
    ]


def test_json_single_object() -> None:
    flat = parse_document(b'{"host": "db", "port": 5432}', filename="flat.json")
    assert texts(flat) == ["host: db\nport: 5432"]
    nested = {
        "name": "svc",
        "users": [{"login": "a"}, {"login": "b"}],
        "limits": {"cpu": 2, "disk": {"gb": 10}},
    }
    document = parse_document(json.dumps(nested).encode(), filename="config.json")
    assert [(e.text, e.heading_path) for e in document.elements] == [
        ("name: svc", ()),
        ("login: a", ("users",)),
        ("login: b", ("users",)),
        ("limits.cpu: 2\nlimits.disk.gb: 10", ("limits",)),
    ]


def test_json_invalid_reports_line_and_column() -> None:
    data = b'{\n  "a": 1,\n  "b": \n}'
    assert fails(data, "bad.json") == "invalid JSON at line 4, column 1: Expecting value"


def test_json_without_data() -> None:
    assert fails(b"[]", "empty.json") == "JSON document holds no data"
    assert fails(b"{}", "empty.json") == "JSON document holds no data"


def test_json_nested_too_deeply() -> None:
    data = b"[" * 100_000 + b"]" * 100_000
    assert fails(data, "deep.json") == "invalid JSON: nested too deeply"


def test_json_lines() -> None:
    data = b'{"event": "login", "user": "ada"}\n\n{"event": "logout"}\n"note"\n'
    document = parse_document(data, filename="events.jsonl")
    assert document.media_type == "application/x-ndjson"
    assert texts(document) == ["event: login\nuser: ada", "event: logout", "note"]
    bad = b'{"ok": 1}\n{"ok": 2}\n{"ok": }\n'
    assert fails(bad, "events.jsonl") == "invalid JSON at line 3, column 8: Expecting value"


# --- robustness -----------------------------------------------------------------------------


@pytest.mark.parametrize("extension", SUPPORTED_EXTENSIONS)
def test_random_and_truncated_input_only_ever_raises_ingest_error(extension: str) -> None:
    rng = random.Random(extension)
    samples = [rng.randbytes(size) for size in (1, 7, 64, 4096)]
    samples += [b"%PDF-1.4\n" + rng.randbytes(500), b"PK\x03\x04" + rng.randbytes(500)]
    valid_pdf = make_pdf(PAGES[:1])
    valid_docx = make_docx(build_report)
    samples += [valid_pdf[:cut] for cut in range(50, len(valid_pdf), len(valid_pdf) // 7)]
    samples += [valid_docx[:cut] for cut in range(50, len(valid_docx), len(valid_docx) // 7)]
    messages = []
    for sample in samples:
        try:
            document = parse_document(sample, filename="fuzz" + extension)
        except IngestError as exc:
            messages.append(exc.message)
        else:
            assert document.elements
    assert messages
    # Failures are the parsers' own diagnoses, not parse_document's last-resort wrapper.
    assert not [m for m in messages if m.startswith("file could not be parsed")]
