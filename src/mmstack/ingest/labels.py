"""Names people give things, collection names and tags: text that shows as itself. No
control characters, and no bidirectional overrides, which make a name display as another
(`report\u202egpj.exe`); length and number bounded."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Final

from mmstack.errors import InvalidRequestError

MAX_TAGS: Final = 64
MAX_TAG_LENGTH: Final = 128
# Explicit directional formatting (embeddings, overrides, isolates) and the marks.
_BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_label(value: str, *, what: str, param: str, max_length: int) -> str:
    """`value` stripped, if it is 1 to `max_length` characters that display as themselves."""
    text = value.strip()
    if not text or len(text) > max_length:
        raise InvalidRequestError(f"{what} must be 1 to {max_length} characters", param=param)
    for character in text:
        if character in _BIDI_CONTROLS or unicodedata.category(character) in _REFUSED_CATEGORIES:
            raise InvalidRequestError(
                f"{what} must not contain control, bidirectional formatting or unassigned "
                f"characters (U+{ord(character):04X})",
                param=param,
            )
    return text


def check_tags(tags: Iterable[str]) -> list[str]:
    """The tags checked, without repeats, sorted; at most `MAX_TAGS`."""
    unique = sorted(
        {check_label(t, what="a tag", param="tags", max_length=MAX_TAG_LENGTH) for t in tags}
    )
    if len(unique) > MAX_TAGS:
        raise InvalidRequestError(f"at most {MAX_TAGS} tags per file", param="tags")
    return unique
