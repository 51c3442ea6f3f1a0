"""Names people give things, collection names and tags: text that shows as itself. No
control characters, and no bidirectional overrides, which make a name display as another
(`report\u202egpj.exe`); length and number bounded. `LABEL_PATTERN` states the same rule
for the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from mmstack.errors import InvalidRequestError

MAX_TAGS: Final = 64
MAX_TAG_LENGTH: Final = 128
# C0 and C1 controls, lone surrogates, the line and paragraph separators, and explicit
# directional formatting (embeddings, overrides, isolates, the marks). Characters a newer
# Unicode assigns (a new emoji) are let through: this Python may not know them yet.
_REFUSED: Final = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0xD800, 0xDFFF),
    (0x2028, 0x2029),
    (0x061C, 0x061C),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2066, 0x2069),
)
# The spaces `str.strip` removes that `_REFUSED` does not already refuse.
_SPACES: Final = (
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


_REFUSED_CHARACTER: Final = re.compile(f"[{_class(_REFUSED)}]")
# Anything but refused characters, and at least one that is not a space.
LABEL_PATTERN: Final = (
    f"^[^{_class(_REFUSED)}]*[^{_class(_REFUSED + _SPACES)}][^{_class(_REFUSED)}]*$"
)


def check_label(value: str, *, what: str, param: str, max_length: int) -> str:
    """`value` stripped, if it matches `LABEL_PATTERN` and is at most `max_length`
    characters."""
    text = value.strip()
    if not text or len(value) > max_length:
        raise InvalidRequestError(f"{what} must be 1 to {max_length} characters", param=param)
    if refused := _REFUSED_CHARACTER.search(value):
        raise InvalidRequestError(
            f"{what} must not contain control or bidirectional formatting characters "
            f"(U+{ord(refused.group()):04X})",
            param=param,
        )
    return text


def check_tags(tags: Iterable[str]) -> list[str]:
    """The tags checked (at most `MAX_TAGS` given), without repeats, sorted."""
    given = list(tags)
    if len(given) > MAX_TAGS:
        raise InvalidRequestError(f"at most {MAX_TAGS} tags per file", param="tags")
    return sorted(
        {check_label(t, what="a tag", param="tags", max_length=MAX_TAG_LENGTH) for t in given}
    )
