"""Does a passage support an answer sentence, and which span of it does?

A sentence is supported by a passage when every number it states appears in the passage
and one span of it (a sentence, or two in a row) holds most of what the sentence adds to
its question, or means nearly the same as the sentence (the embedder's cosine similarity).
What the sentence adds are its content words that the question does not have: an answer
repeats the question in the asker's words ("the main remaining risk"), which the passage
may put otherwise ("the main risk left"), while the answer itself ("the billing
database") must be the passage's. A short answer ("1987.") is checked together with its
question. The quote is the span that matches the sentence best.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmstack.answer import text as tx
from mmstack.answer.citations import strip_markers
from mmstack.arrays import FloatArray
from mmstack.models.embedder import Embedder

# Below this many words besides numbers, a sentence is checked together with its question.
SHORT_ANSWER_WORDS = 3


@dataclass(frozen=True, slots=True)
class Support:
    passage: int  # index into the passages, from 0
    supported: bool
    lexical: float  # largest share of what the sentence adds to the question, in one span
    semantic: float  # best cosine similarity to a span of the passage
    numbers_ok: bool
    quote_start: int  # the best span, as offsets into the passage text
    quote_end: int

    @property
    def strength(self) -> float:
        return (self.lexical + self.semantic) / 2 if self.numbers_ok else -1.0


@dataclass(frozen=True, slots=True)
class _Passage:
    words: set[str]
    numbers: set[str]
    spans: list[tuple[int, int]]  # candidate quotes: each sentence, and each pair in a row
    span_words: list[set[str]]
    span_vectors: FloatArray  # one L2-normalized row per span


class SupportChecker:
    def __init__(self, embedder: Embedder, *, min_lexical: float, min_semantic: float) -> None:
        self._embedder = embedder
        self._min_lexical = min_lexical
        self._min_semantic = min_semantic
        self._passages: list[_Passage] = []
        self._texts: list[str] = []

    def index(self, passages: Sequence[str]) -> None:
        """Reads the passages (embedding their sentences: blocking, run it off the loop)."""
        prepared: list[tuple[set[str], set[str], list[tuple[int, int]], list[set[str]]]] = []
        texts: list[str] = []
        for passage in passages:
            sentences = tx.sentence_spans(passage)
            pairs = [(a[0], b[1]) for a, b in itertools.pairwise(sentences)]
            spans = sentences + pairs or [(0, len(passage))]
            texts += [passage[s:e] for s, e in spans]
            per_span = [tx.content_words(passage[s:e]) for s, e in spans]
            prepared.append((tx.content_words(passage), tx.numbers(passage), spans, per_span))
        vectors = self._embedder.embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        self._passages = []
        row = 0
        for all_words, all_numbers, spans, per_span in prepared:
            block = vectors[row : row + len(spans)]
            row += len(spans)
            self._passages.append(_Passage(all_words, all_numbers, spans, per_span, block))
        self._texts = list(passages)

    def _quote_start(self, index: int, start: int, end: int) -> int:
        # Headings help matching but are not what the passage says: the quote skips them.
        return tx.skip_headings(self._texts[index], start, end)

    def check(
        self, sentence: str, candidates: Sequence[int] | None = None, *, question: str = ""
    ) -> list[Support]:
        """Support of `sentence` (its markers aside) by each candidate passage (all of them
        by default), in the order given. Blocking (embeds the sentence)."""
        indexes = range(len(self._passages)) if candidates is None else candidates
        sentence = strip_markers(sentence)
        words = tx.content_words(sentence)
        stated = tx.numbers(sentence)
        claim = sentence
        short = bool(question) and len(words - stated) < SHORT_ANSWER_WORDS
        if short:
            # A short answer ("1987.", "Two blasts.") says something only with its question:
            # it is compared to the passage together with it, and what it adds must be the
            # passage's word for word (the question alone would make it look close).
            claim = f"{question} {sentence}"
        # The question's words may be paraphrased; what the sentence adds may not.
        added = words - tx.content_words(question) or words
        # The passages' own model, not the quantized query model: the check compares two
        # texts, and the quantized model's numbers vary with the CPU's integer kernels (a
        # borderline cosine moved from below 0.7 to 0.701 between two machines).
        vector = self._embedder.embed([claim])[0]
        return [self._support(i, words, added, stated, vector, short) for i in indexes]

    def _support(
        self,
        index: int,
        words: set[str],
        added: set[str],
        stated: set[str],
        vector: FloatArray,
        short: bool,
    ) -> Support:
        passage = self._passages[index]
        numbers_ok = stated <= passage.numbers
        similarities = passage.span_vectors @ vector
        # Words must meet in one place (a sentence, or two in a row), not anywhere in the
        # passage: a nearby fact dressed in the question's words does not pass.
        overlaps = [len(added & w) / len(added) if added else 0.0 for w in passage.span_words]
        # The quote is where the whole sentence, its echo of the question included, is.
        matches = [len(words & w) / len(words) if words else 0.0 for w in passage.span_words]
        best = max(range(len(passage.spans)), key=lambda i: similarities[i] + matches[i])
        lexical = max(overlaps, default=0.0)
        semantic = float(similarities.max()) if len(similarities) else 0.0
        close = semantic >= self._min_semantic and not short
        supported = bool(added) and numbers_ok and (lexical >= self._min_lexical or close)
        start, end = passage.spans[best]
        start = self._quote_start(index, start, end)
        return Support(index, supported, lexical, semantic, numbers_ok, start, end)
