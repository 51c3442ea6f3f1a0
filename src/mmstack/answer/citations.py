"""`[n]` citation markers in an answer: reading them, rewriting them, and cutting a streamed
answer into sentences (a sentence is what gets verified, and what cites)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# [1], [1, 2], [1-3], [Passage 2], [source 1; 4]
_MARKER = re.compile(
    r"\s*\[(?:(?:passages?|sources?|documents?|docs?)\s*)?(\d{1,3}(?:\s*[,;\-\u2013]\s*\d{1,3})*)\]",
    re.IGNORECASE,
)
_CLOSING = "\"')\u201d\u2019*"
_TERMINAL = ".!?"


def markers(sentence: str) -> list[int]:
    """The passage numbers a sentence cites, in order of first appearance."""
    found: dict[int, None] = {}
    for match in _MARKER.finditer(sentence):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            bounds = re.split(r"\s*[\-\u2013]\s*", part)
            if len(bounds) == 2 and bounds[0] and bounds[1]:
                low, high = int(bounds[0]), int(bounds[1])
                numbers = range(low, high + 1) if 0 < high - low < 10 else [low, high]
            else:
                numbers = [int(b) for b in bounds if b]
            for number in numbers:
                found.setdefault(number, None)
    return list(found)


def strip_markers(sentence: str) -> str:
    """The sentence without its markers (and without the space before each)."""
    return _MARKER.sub("", sentence).strip()


def cite_filenames(sentence: str, filenames: list[str]) -> str:
    """The sentence with each mention of a passage's file name ("... in report.pdf") turned
    into that passage's marker: small models cite the heading they were shown."""
    for number, filename in enumerate(filenames, 1):
        if not filename or filename.lower() not in sentence.lower():
            continue
        mention = re.compile(
            r"[\s,]*\(?(?:\b(?:in|from|see|per|according\s+to|as\s+(?:stated|shown|reported)"
            rf"\s+in)\s+)?(?:the\s+)?(?:file\s+)?{re.escape(filename)}\)?",
            re.IGNORECASE,
        )
        marker = "" if number in markers(sentence) else f" [{number}]"
        sentence = mention.sub(marker, sentence, count=1)
    cleaned = sentence.lstrip(" ,;:")
    if cleaned != sentence and cleaned:
        cleaned = cleaned[0].upper() + cleaned[1:]
    return cleaned


def with_markers(sentence: str, numbers: list[int]) -> str:
    """The sentence citing exactly `numbers`, as `[n]` markers before its final punctuation."""
    text = strip_markers(sentence)
    if not numbers:
        return text
    cite = "".join(f"[{n}]" for n in numbers)
    end = len(text)
    while end > 0 and text[end - 1] in _CLOSING + _TERMINAL:
        end -= 1
    tail = text[end:]
    if not any(c in _TERMINAL for c in tail):
        return f"{text} {cite}"
    return f"{text[:end]} {cite}{tail}"


@dataclass(frozen=True, slots=True)
class Segment:
    """One sentence of an answer and the whitespace that followed it."""

    text: str
    separator: str


class SentenceSplitter:
    """Cuts streamed text into sentences as soon as each one is known to be complete.

    A sentence ends at a line break, or at `.`, `!` or `?` followed by space and a capital
    letter (so `0.8`, `e.g. this` and `ug. per` do not end one). Markers just after the
    punctuation (`... 14 patients. [2] Next`) belong to the sentence they follow.
    """

    _end = re.compile("[.!?][\"')\u201d\u2019*]*")
    _after = re.compile(r"(?:\s*\[[^\]\n]{1,24}\])*")

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[Segment]:
        self._buffer += text
        segments = []
        while (cut := self._next_cut()) is not None:
            end, resume = cut
            sentence, separator = self._buffer[:end], self._buffer[end:resume]
            self._buffer = self._buffer[resume:]
            if sentence.strip():
                segments.append(Segment(sentence.strip(), separator))
        return segments

    def flush(self) -> list[Segment]:
        rest, self._buffer = self._buffer.strip(), ""
        return [Segment(rest, "")] if rest else []

    def _next_cut(self) -> tuple[int, int] | None:
        """(end of the first complete sentence, start of the next), if one is complete."""
        buffer = self._buffer
        newline = buffer.find("\n")
        position = 0
        while (match := self._end.search(buffer, position)) is not None:
            if newline != -1 and newline < match.start():
                break
            after = self._after.match(buffer, match.end())
            end = after.end() if after else match.end()
            rest = buffer[end:]
            stripped = rest.lstrip(" \t")
            if not stripped:
                return None  # what follows decides: wait for more text
            if stripped[0] == "\n":
                break
            if stripped[0] == "[" and len(stripped) < 26 and "]" not in stripped:
                return None  # maybe a marker still being written
            if len(stripped) < len(rest) and (stripped[0].isupper() or stripped[0] in "[(\"'*-"):
                return end, end + len(rest) - len(stripped)
            position = match.end()
        if newline == -1:
            return None
        resume = newline
        while resume < len(buffer) and buffer[resume] in "\n \t":
            resume += 1
        if resume == len(buffer):
            return None  # the separator may go on; keep it whole
        return newline, resume
