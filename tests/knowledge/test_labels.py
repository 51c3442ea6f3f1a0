"""The rule for names and tags, and the pattern the OpenAPI document states for it, agree
on every character of the Basic Multilingual Plane and on a sample beyond it."""

from __future__ import annotations

import re

import pytest

from mmstack.errors import InvalidRequestError
from mmstack.knowledge.labels import LABEL_PATTERN, MAX_TAGS, check_label, check_tags

PATTERN = re.compile(LABEL_PATTERN)
CHARACTERS = [chr(c) for c in (*range(0x10000), *range(0x10000, 0x110000, 97))]


def _accepted(value: str) -> bool:
    try:
        check_label(value, what="a name", param="name", max_length=256)
    except InvalidRequestError:
        return False
    return True


@pytest.mark.parametrize("shape", ["a{}b", "{}", "{}{}"])
def test_the_pattern_says_what_check_label_accepts(shape: str) -> None:
    disagreements = [
        f"U+{ord(c):04X}"
        for c in CHARACTERS
        if _accepted(shape.format(c, c)) != bool(PATTERN.fullmatch(shape.format(c, c)))
    ]
    assert not disagreements, disagreements[:20]


def test_what_is_refused() -> None:
    for bad in ["", "   ", "\u3000", "bell\x07", "rtl\u202eoverride", "line\u2028break", "x\x00"]:
        assert not _accepted(bad), repr(bad)
    for good in ["Q3 reports", "  padded  ", "日本語", "emoji \U0001fae8", "\ue000private"]:
        assert _accepted(good), repr(good)
    assert check_label("  padded  ", what="a name", param="name", max_length=256) == "padded"


def test_tags_are_bounded_as_given() -> None:
    assert check_tags(["b", "a", "b"]) == ["a", "b"]
    with pytest.raises(InvalidRequestError, match="at most 64 tags"):
        check_tags(["same"] * (MAX_TAGS + 1))
