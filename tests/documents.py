"""Test documents built in the tests (no downloads)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from fpdf import FPDF


def make_pdf(pages: list[str]) -> bytes:
    """A PDF with a text layer, one string of body text per page."""
    pdf = FPDF()
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))  # same text, same bytes
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


PAGE_TEXTS = [
    "Quarterly report. Revenue grew in every region during the first quarter, "
    "led by strong demand for industrial pumps.",
    "Staffing. The company hired forty engineers and opened an office in Lisbon "
    "to support customers in southern Europe.",
    "Risk factors. The corrosion of titanium valves in the desalination plant near "
    "Valparaiso forced an unplanned maintenance shutdown lasting eleven days.",
    "Outlook. Management expects margins to stabilise as raw material prices fall "
    "and the new factory reaches full capacity.",
]


def pdf_of_strokes(strokes: int, *, pages: int = 1) -> bytes:
    """Pages that are nothing but `strokes` lines (one content stream shared by all): no
    text layer, so each is rendered for OCR, and rendering takes about a second per 5,000
    strokes here, from a file of a few kilobytes."""
    lines = b"".join(b"%d 0 m %d 842 l S\n" % (i % 595, i * 7 % 595) for i in range(strokes))
    content = zlib.compress(lines)
    kids = " ".join(f"{3 + n} 0 R" for n in range(pages)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R >>" % (3 + pages)]
        * pages,
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)
