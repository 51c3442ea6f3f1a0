"""Paragraphs from OCR lines: boxes placed by hand, as OCR would return them."""

from __future__ import annotations

from mmstack.ingest.document import ElementKind, TextSource
from mmstack.ingest.parsers.ocr_layout import group_lines, ocr_elements
from mmstack.models.contracts import TextLine


def line(text: str, left: int, top: int, right: int, height: int = 30) -> TextLine:
    return TextLine(text, (left, top, right, top + height), 0.95)


def texts(lines: list[TextLine]) -> list[str]:
    return [block.text for block in group_lines(lines)]


def test_close_lines_form_a_paragraph_and_a_wide_gap_opens_the_next() -> None:
    lines = [
        line("The board approved", 40, 100, 400),
        line("the budget.", 40, 138, 260),
        line("A new paragraph", 40, 220, 380),  # a gap of 52 px under 30 px lines
    ]
    assert texts(lines) == ["The board approved the budget.", "A new paragraph"]


def test_a_title_does_not_join_the_text_under_it() -> None:
    lines = [line("Water notice", 40, 30, 360, height=57), line("The board met.", 40, 100, 300)]
    assert texts(lines) == ["Water notice", "The board met."]


def test_two_columns_are_read_one_after_the_other() -> None:
    left = [line(f"left {i}", 40, 100 + 38 * i, 400) for i in range(4)]
    right = [line(f"right {i}", 500, 100 + 38 * i, 860) for i in range(4)]
    title = line("Newsletter", 40, 20, 860, height=50)
    assert texts([*right, *left, title]) == [
        "Newsletter",
        "left 0 left 1 left 2 left 3",
        "right 0 right 1 right 2 right 3",
    ]


def test_pieces_of_one_row_are_one_line_and_far_apart_cells_are_not() -> None:
    lines = [
        line("Invoice", 40, 100, 160),
        line("4711", 175, 101, 240),  # split by the detector, 15 px to the right
        line("Total", 600, 100, 680),  # a separate cell
    ]
    assert texts(lines) == ["Invoice 4711", "Total"]


def test_a_word_hyphenated_across_lines_is_joined() -> None:
    lines = [line("the treat-", 40, 100, 200), line("ment plant", 40, 136, 210)]
    assert texts(lines) == ["the treatment plant"]


def test_elements_carry_source_region_page_and_thumbnail() -> None:
    lines = [line("Hello", 40, 100, 200), line("world", 42, 136, 190)]
    [element] = ocr_elements(
        lines,
        page=2,
        thumbnail="abc",
        transform=lambda box: (box[0] // 2, box[1] // 2, box[2] // 2, box[3] // 2),
    )
    assert element.kind is ElementKind.PARAGRAPH
    assert element.source is TextSource.OCR
    assert element.text == "Hello world"
    assert element.region == (20, 50, 100, 83)
    assert element.page == 2
    assert element.thumbnail == "abc"
    assert ocr_elements([]) == []
