from __future__ import annotations

import pytest

from mmstack.answer.citations import (
    Segment,
    SentenceSplitter,
    cite_filenames,
    markers,
    strip_markers,
    with_markers,
)
from mmstack.answer.declines import is_decline


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The dose was 5 mg [1].", [1]),
        ("Both trials agree [2][1] and [2].", [2, 1]),
        ("Seen in 14 patients [1, 3].", [1, 3]),
        ("Ranges are read [2-4].", [2, 3, 4]),
        ("Named markers count [Passage 2] too.", [2]),
        ("No markers, only [a note] and 3 numbers.", []),
    ],
)
def test_markers_are_read_in_order(sentence: str, expected: list[int]) -> None:
    assert markers(sentence) == expected


def test_markers_are_rewritten_before_the_final_punctuation() -> None:
    assert strip_markers("It was 0.80 [1] in all [2].") == "It was 0.80 in all."
    assert with_markers("It was 0.80 [3].", [1, 2]) == "It was 0.80 [1][2]."
    assert with_markers('He said "yes."', [4]) == 'He said "yes [4]."'
    assert with_markers("A list item", [2]) == "A list item [2]"
    assert with_markers("Uncited [5].", []) == "Uncited."


def test_a_file_name_in_the_text_becomes_its_passage_marker() -> None:
    files = ["med-1.txt", "audit.pdf"]
    assert (
        cite_filenames("Collected at delivery in med-1.txt.", files) == "Collected at delivery [1]."
    )
    assert cite_filenames("According to audit.pdf, two issues [2].", files) == "Two issues [2]."
    assert cite_filenames("It was 5 mg (audit.pdf).", files) == "It was 5 mg [2]."
    assert cite_filenames("No file named here [1].", files) == "No file named here [1]."


def _split(chunks: list[str]) -> list[Segment]:
    splitter = SentenceSplitter()
    segments = []
    for chunk in chunks:
        segments += splitter.feed(chunk)
    return segments + splitter.flush()


def test_a_streamed_answer_is_cut_into_whole_sentences() -> None:
    text = (
        "The mean was 1.8 ug. per 100 ml [1]. Detection reached 0.10 p.p.m. [1] "
        "It was measured in 17 normal subjects [2].\n- Urine [1]\n- Serum [3]"
    )
    expected = [
        Segment("The mean was 1.8 ug. per 100 ml [1].", " "),
        Segment("Detection reached 0.10 p.p.m. [1]", " "),
        Segment("It was measured in 17 normal subjects [2].", "\n"),
        Segment("- Urine [1]", "\n"),
        Segment("- Serum [3]", ""),
    ]
    assert _split([text]) == expected
    # However the text is cut into chunks, the sentences come out the same.
    assert _split([text[i : i + 3] for i in range(0, len(text), 3)]) == expected
    assert _split(list(text)) == expected


def test_a_sentence_waits_for_what_follows_it() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("It took 40 ms.") == []
    assert splitter.feed(" [2]") == []
    assert splitter.feed(" Then") == [Segment("It took 40 ms. [2]", " ")]
    assert splitter.flush() == [Segment("Then", "")]


@pytest.mark.parametrize(
    "sentence",
    [
        "The documents do not say.",
        "The passages do not mention the dose of azathioprine.",
        "The provided passages don't specify the tip speed [2].",
        "The rotor tip speed is not stated in the passages.",
        "There is no information about the half-life of CK-2017357.",
        "I don't know.",
        "The answer cannot be determined from the given passages.",
        "The context has no data on relapse.",
    ],
)
def test_declines_are_recognized(sentence: str) -> None:
    assert is_decline(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "Haematopoietic stem cells do not asymmetrically segregate chromosomes [1].",
        "Moderate malaria was not associated with a depletion of total body water [2].",
        "Nose blunting had little effect on the derivatives [1].",
    ],
)
def test_negative_facts_are_not_declines(sentence: str) -> None:
    assert not is_decline(sentence)
