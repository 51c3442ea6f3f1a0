"""An answer's `[n]` markers renumbered 1, 2, 3... in the order they first appear, for
chat clients that number sources by their order (Open WebUI shows `[k]` as the k-th
`url_citation` it was given): the passage numbers the model saw (`[3]` for the third
passage) mean nothing to them."""

from __future__ import annotations

import dataclasses
import re

from mmstack.answer.types import Answer

# The verified answer writes markers as `[n]` (`citations.with_markers`); passages number
# at most `answer.top_k`'s bound, so `[2024]` in a sentence is text, not a marker.
_MARKER = re.compile(r"\[(\d{1,2})\]")
MAX_PASSAGE = 50


class SourceNumbers:
    """One answer's renumbering; a streamed answer's pieces go through `text` in order,
    then the whole answer through `answer`, with the same numbers."""

    def __init__(self) -> None:
        self._numbers: dict[int, int] = {}

    def number(self, passage: int) -> int:
        return self._numbers.setdefault(passage, len(self._numbers) + 1)

    def text(self, text: str) -> str:
        return _MARKER.sub(self._renumber, text)

    def answer(self, answer: Answer) -> Answer:
        """The answer with its text's markers and its citations renumbered, and each
        citation's marker span moved to where its marker now is."""
        text = answer.text
        shifts: list[tuple[int, int]] = []  # (end of an old marker, length change so far)
        pieces, last, change = [], 0, 0
        for match in _MARKER.finditer(text):
            new = self._renumber(match)
            pieces += [text[last : match.start()], new]
            last = match.end()
            change += len(new) - (match.end() - match.start())
            shifts.append((match.end(), change))

        def moved(position: int) -> int:
            before = [total for end, total in shifts if end <= position]
            return position + (before[-1] if before else 0)

        citations = []
        for citation in answer.citations:
            start = moved(citation.marker_start)
            width = (
                len(f"[{self.number(citation.number)}]")
                if citation.marker_end > citation.marker_start
                else 0
            )
            citations.append(
                dataclasses.replace(
                    citation,
                    number=self.number(citation.number),
                    marker_start=start,
                    marker_end=start + width,
                )
            )
        renumbered = "".join([*pieces, text[last:]])
        return dataclasses.replace(answer, text=renumbered, citations=citations)

    def _renumber(self, match: re.Match[str]) -> str:
        passage = int(match.group(1))
        if not 1 <= passage <= MAX_PASSAGE:
            return match.group(0)
        return f"[{self.number(passage)}]"
