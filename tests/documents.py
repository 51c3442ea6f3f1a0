"""Test documents built in the tests (no downloads)."""

from __future__ import annotations

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
