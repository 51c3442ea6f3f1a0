"""Sentence by sentence, what of the model's answer goes out, and citing what.

With verification on, a sentence that states something must be supported by a passage
(and say something new: a repeated sentence, or one echoing a passage heading, is dropped):
its own citations are kept when their passage supports it, otherwise it is re-cited to the
passage that supports it best, otherwise it is dropped. A sentence saying the passages do
not hold the answer ends the answer there (what follows it is the model reaching for a
nearby fact). An answer left with no supported sentence becomes a refusal.

With verification off (the plain pipeline, for comparison), every sentence goes out with
the citations the model wrote, and only an answer that starts by declining is a refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mmstack.answer import prompts
from mmstack.answer import text as tx
from mmstack.answer.citations import cite_filenames, markers, strip_markers, with_markers
from mmstack.answer.declines import is_decline
from mmstack.answer.support import Support, SupportChecker
from mmstack.answer.types import Citation, RefusalReason
from mmstack.index.search import SearchHit


@dataclass(frozen=True, slots=True)
class Verdict:
    text: str | None  # the sentence as it goes out; None: dropped
    supports: list[Support] = field(default_factory=list)  # one per citation, in order
    states_fact: bool = False  # it has content words (a bare "Yes." does not)
    stop: bool = False  # the answer ends with this sentence (`text`), or before it (None)


class Verifier:
    def __init__(
        self,
        question: str,
        passages: Sequence[SearchHit],
        checker: SupportChecker,
        *,
        verify: bool,
    ) -> None:
        self._question = question
        self._passages = list(passages)
        self._checker = checker
        self._verify = verify
        self._first = True
        self._seen: set[str] = set()
        # Words of the passage headings the prompt shows: a line made of them only is the
        # model echoing a heading, not stating anything.
        self._heading_words: set[str] = set()
        for hit in self._passages:
            label = " ".join([hit.filename, *hit.anchor.heading_path])
            self._heading_words |= tx.content_words(label)

    def judge(self, sentence: str) -> Verdict:
        """Blocking: embeds the sentence."""
        first, self._first = self._first, False
        if self._verify:
            sentence = cite_filenames(sentence, [hit.filename for hit in self._passages])
        if is_decline(sentence) and (self._verify or first):
            if first:
                return Verdict(None, stop=True)
            # A partial answer: what came before stands, this says what it leaves out.
            return Verdict(with_markers(sentence, []), stop=True)
        cited = [n - 1 for n in markers(sentence) if 1 <= n <= len(self._passages)]
        said = " ".join(strip_markers(sentence).lower().split())
        words = tx.content_words(said)
        if self._verify and (said in self._seen or (words and words <= self._heading_words)):
            return Verdict(None)  # a small model repeating itself or the prompt
        self._seen.add(said)
        if not words:
            if self._verify and not any(c.isalnum() for c in said):
                return Verdict(None)  # a stray code fence or bullet
            return Verdict(with_markers(sentence, []) if self._verify else sentence)
        supports = self._checker.check(sentence, question=self._question)
        if not self._verify:
            return Verdict(sentence, [supports[i] for i in cited], states_fact=True)
        kept = [supports[i] for i in cited if supports[i].supported]
        if not kept:
            backing = [s for s in supports if s.supported]
            if not backing:
                return Verdict(None, states_fact=True)
            kept = [max(backing, key=lambda s: s.strength)]
        numbers = [s.passage + 1 for s in kept]
        return Verdict(with_markers(sentence, numbers), kept, states_fact=True)

    def quote(self, support: Support) -> str:
        """The passage text that supports a sentence."""
        return self._passages[support.passage].text[support.quote_start : support.quote_end]

    def quote_and_source(self, support: Support) -> tuple[str, str]:
        """The supporting text and where it is from (file, page, section)."""
        return self.quote(support), prompts.source(self._passages[support.passage])

    def citations(self, sentence: str, supports: Sequence[Support], offset: int) -> list[Citation]:
        """The citations of a sentence placed at `offset` in the answer text."""
        found = []
        for support in supports:
            number = support.passage + 1
            marker = f"[{number}]"
            at = sentence.rfind(marker)
            marker_start = offset + (at if at >= 0 else len(sentence))
            marker_end = marker_start + (len(marker) if at >= 0 else 0)
            hit = self._passages[support.passage]
            start, end = support.quote_start, support.quote_end
            moment = hit.anchor.moment(start)
            found.append(
                Citation(
                    number=number,
                    chunk_id=hit.chunk_id,
                    collection_id=hit.collection_id,
                    file_id=hit.file_id,
                    filename=hit.filename,
                    page_start=hit.anchor.page_start,
                    page_end=hit.anchor.page_end,
                    heading_path=list(hit.anchor.heading_path),
                    quote=self.quote(support),
                    quote_start=hit.anchor.char_start + start,
                    quote_end=hit.anchor.char_start + end,
                    marker_start=marker_start,
                    marker_end=marker_end,
                    modality=hit.modality,
                    time_start=moment[0] if moment else None,
                    time_end=moment[1] if moment else None,
                    thumbnail=hit.anchor.thumbnail,
                    region=hit.anchor.region,
                )
            )
        return found


def refusal_reason(
    *, verify: bool, declined_first: bool, supported: int, sentences: int
) -> RefusalReason | None:
    """Why the answer is a refusal, or None when it is not one."""
    if declined_first:
        return "model_declined"
    if verify and supported == 0:
        return "unsupported"
    if not verify and sentences == 0:
        return "model_declined"
    return None
