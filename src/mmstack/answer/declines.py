"""Recognizing a model's own "the passages do not say" in the sentences it writes."""

from __future__ import annotations

import re

from mmstack.answer.citations import strip_markers

_SOURCE = r"(?:passages?|documents?|context|texts?|sources?|articles?|abstracts?|information)"
_VERB = (
    r"(?:say|state|mention|specify|provide|contain|include|give|indicate|report|address|"
    r"discuss|describe|offer|answer|list|tell)"
)
_PARTICIPLE = (
    r"(?:said|stated|mentioned|specified|provided|contained|included|given|indicated|reported|"
    r"addressed|discussed|described|available|found|known|clear)"
)
_PATTERNS = [
    rf"\b{_SOURCE}\b[^.]*\b(?:do|does|did)\s*(?:not|n't)\s+(?:\w+\s+)?{_VERB}",
    rf"\b{_SOURCE}\b[^.]*\b(?:has|have|had|is|are|was|were)\s+no\b",
    rf"\b(?:is|are|was|were)\s+not\s+(?:explicitly\s+|directly\s+)?{_PARTICIPLE}\b",
    rf"\bnot\s+(?:explicitly\s+|directly\s+)?{_PARTICIPLE}\s+in\s+the\s+{_SOURCE}",
    r"\bno\s+(?:specific\s+)?(?:information|mention|data|details?|indication)\b",
    r"\bi\s+(?:do\s+not|don't|cannot|can't)\s+(?:know|find|answer|determine)",
    r"\b(?:cannot|can't|can\s+not|unable\s+to|impossible\s+to)\s+(?:be\s+)?"
    r"(?:determine|answer|find|tell|say|infer)",
    r"\bnot\s+(?:possible|enough\s+information)\b",
]
_DECLINE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def is_decline(sentence: str) -> bool:
    """Whether the sentence says the answer is not in the passages (or not known)."""
    return _DECLINE.search(strip_markers(sentence)) is not None
