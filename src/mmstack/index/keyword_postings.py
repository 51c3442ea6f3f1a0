"""FTS5's BM25 ranking computed from postings held in memory (SQLite).

At 100k chunks most of a keyword query's time went to FTS5 scoring every matching row
with `bm25()`: about 6 ms for the 10,000 rows a question matches. This module reads each
query term's postings (chunk, occurrences) from FTS5 itself, through the `fts5vocab`
table `chunks_fts_instance`, keeps them with their BM25 weight for one version of the
index, and sums the weights of a query's terms with numpy. It is the same formula on
the same counts and document lengths, so the scores are those of `bm25(chunks_fts)`
(tests/index/test_keyword_postings.py compares them); only the work is done once per
term instead of once per query.

The postings belong to one generation of the index (`keyword_index_state`, bumped by
triggers in the same transaction as every change to a chunk's text). A search in a
transaction that sees another generation rebuilds them, or, while the index keeps
changing (an ingestion), leaves the query to FTS5 so that rebuilds take at most about a
tenth of the time (`REBUILD_SHARE`).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from mmstack.store.db import session_rows, sqlite_driver

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]

# FTS5's bm25() defaults.
K1 = 1.2
B = 0.75
REBUILD_SHARE = 0.1  # at most this share of the time spent rebuilding while the index changes
MAX_CACHED_POSTINGS = 4_000_000  # postings kept across terms (16 bytes each), oldest out first
# Warming loads the terms found in at least this many chunks, most frequent first, up to
# half the cache: reading those at query time is what costs (rarer terms read in well under
# a millisecond).
WARM_MIN_CHUNKS = 32

_GENERATION_SQL = "SELECT generation FROM keyword_index_state WHERE id = 1"
# One string of a row per occurrence, parsed by numpy: tens of thousands of rows cost
# several times more as Python tuples.
_POSTINGS_SQL = "SELECT group_concat(doc) FROM chunks_fts_instance WHERE term = ?"
_FREQUENT_TERMS_SQL = "SELECT term, doc FROM chunks_fts_terms WHERE doc >= ? ORDER BY doc DESC"
_LENGTHS_SQL = "SELECT id, sz FROM chunks_fts_docsize"
_OWNERS_SQL = "SELECT id, collection_file_id FROM chunks"
_TOKENIZE_OPTION = re.compile(r"tokenize\s*=\s*(?:'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\")")


@dataclass(frozen=True, slots=True)
class RankedMatches:
    ids: NDArray[np.int64]  # best first; ties in chunk order
    scores: NDArray[np.float64]  # BM25, higher is better
    collection_files: NDArray[np.int64]  # the file in a collection each chunk belongs to
    total: int  # chunks matching any term; more than len(ids) when cut


class QueryTokenizer:
    """Query words as the index's tokenizer turns them into terms (stemming, case and
    diacritics folding), from an in-memory FTS5 table made with the same tokenizer
    options, so that the terms are exactly those the index holds."""

    def __init__(self, tokenize: str) -> None:
        self._connection = sqlite_driver().connect(":memory:", check_same_thread=False)
        self._connection.execute(
            f"CREATE VIRTUAL TABLE words USING fts5(word, tokenize={_quoted(tokenize)})"
        )
        self._connection.execute("CREATE VIRTUAL TABLE terms USING fts5vocab(words, instance)")
        self._known: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    @classmethod
    def of_index(cls, session: Session) -> QueryTokenizer:
        """The tokenizer `chunks_fts` was created with."""
        sql = session.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'")
        ).scalar_one()
        found = _TOKENIZE_OPTION.search(sql)
        option = (found.group(1) or "").replace("''", "'") if found else "unicode61"
        return cls(option)

    def terms(self, words: Sequence[str]) -> list[tuple[str, ...]]:
        """The index terms of each word, in order (a word may give none, or several)."""
        new = [w for w in dict.fromkeys(words) if w not in self._known]
        if new:
            with self._lock:
                found: dict[int, list[str]] = {n: [] for n in range(len(new))}
                self._connection.executemany(
                    "INSERT INTO words(rowid, word) VALUES (?, ?)", enumerate(new)
                )
                for n, term in self._connection.execute(
                    "SELECT doc, term FROM terms ORDER BY doc, offset"
                ):
                    found[n].append(term)
                self._connection.execute("DELETE FROM words")
                for n, word in enumerate(new):
                    self._known[word] = tuple(found[n])
        return [self._known[w] for w in words]

    def close(self) -> None:
        self._connection.close()


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(slots=True)
class _Generation:
    """Document lengths and postings of one generation of the index."""

    generation: int
    lengths: NDArray[np.float64]  # tokens per chunk, by chunk id
    collection_files: NDArray[np.int64]  # the file in a collection of each chunk, by chunk id
    rows: int
    average_length: float
    postings: OrderedDict[str, tuple[NDArray[np.int64], NDArray[np.float64]]] = field(
        default_factory=OrderedDict
    )
    cached: int = 0  # postings held, all terms
    lock: threading.Lock = field(default_factory=threading.Lock)

    def weighted_postings(
        self, session: Session, term: str
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The chunks holding `term` and the term's BM25 weight in each (as bm25() in
        fts5_aux.c computes it, operation for operation)."""
        with self.lock:
            found = self.postings.get(term)
            if found is not None:
                self.postings.move_to_end(term)
                return found
        ((listed,),) = session_rows(session, _POSTINGS_SQL, (term,))
        occurrences = np.fromstring(listed or "", dtype=np.int64, sep=",")
        ids, counts = np.unique(occurrences, return_counts=True)
        frequency = counts.astype(np.float64)
        idf = math.log((self.rows - len(ids) + 0.5) / (len(ids) + 0.5))
        if idf <= 0.0:
            idf = 1e-6
        weights = idf * (
            (frequency * (K1 + 1.0))
            / (frequency + K1 * (1 - B + B * self.lengths[ids] / self.average_length))
        )
        with self.lock:
            self.postings[term] = (ids, weights)
            self.cached += len(ids)
            while self.cached > MAX_CACHED_POSTINGS and len(self.postings) > 1:
                _, (old, _) = self.postings.popitem(last=False)
                self.cached -= len(old)
        return ids, weights


class Bm25Postings:
    """BM25 over the FTS5 index of one database, from postings cached per term."""

    def __init__(self, rebuild_share: float = REBUILD_SHARE) -> None:
        self._rebuild_share = rebuild_share
        self._current: _Generation | None = None
        self._tokenizer: QueryTokenizer | None = None
        self._tokenizer_lock = threading.Lock()
        self._rebuilding = threading.Lock()
        self._next_rebuild = 0.0  # monotonic time before which no rebuild starts
        self._warmer: threading.Thread | None = None
        self._closing = threading.Event()

    def warm_in_background(self, open_session: SessionFactory) -> threading.Thread:
        """Load the index's lengths and its most frequent terms' postings in a thread, so
        that the first searches find them in memory (about a second at 100k chunks)."""
        self._warmer = threading.Thread(
            target=self._warm, args=(open_session,), name="mmstack-keyword-warm", daemon=True
        )
        self._warmer.start()
        return self._warmer

    def _warm(self, open_session: SessionFactory) -> None:
        try:
            with open_session() as session:
                self._tokenizer_for(session)
                current = self._generation(session)
                if current is None:
                    return
                started, budget, terms = time.monotonic(), MAX_CACHED_POSTINGS // 2, 0
                for term, chunks in session_rows(session, _FREQUENT_TERMS_SQL, (WARM_MIN_CHUNKS,)):
                    if self._closing.is_set() or chunks > budget:
                        break
                    current.weighted_postings(session, term)
                    budget -= chunks
                    terms += 1
                log.info(
                    "keyword index warmed",
                    extra={
                        "terms": terms,
                        "postings": current.cached,
                        "seconds": round(time.monotonic() - started, 2),
                    },
                )
        except Exception:  # a cold cache is slower, never wrong
            log.warning("warming the keyword index failed", exc_info=True)

    def rank(self, session: Session, words: Sequence[str], count: int) -> RankedMatches | None:
        """The best `count` chunks matching any of `words` (as the FTS5 query
        `"w1" OR "w2" ...` would rank them), read in `session`'s transaction. None when
        this cannot answer: a word that is not one term (FTS5 makes it a phrase) or the
        index changing too often to rebuild for."""
        terms = self._tokenizer_for(session).terms(words)
        if any(len(t) != 1 for t in terms):
            return None
        current = self._generation(session)
        if current is None:
            return None
        ids_parts, weight_parts = [], []
        for (term,) in terms:  # one part per query phrase, repeats included, as FTS5 sums
            ids, weights = current.weighted_postings(session, term)
            ids_parts.append(ids)
            weight_parts.append(weights)
        return _best(ids_parts, weight_parts, current.collection_files, count)

    def _tokenizer_for(self, session: Session) -> QueryTokenizer:
        with self._tokenizer_lock:
            if self._tokenizer is None:
                self._tokenizer = QueryTokenizer.of_index(session)
            return self._tokenizer

    def _generation(self, session: Session) -> _Generation | None:
        ((generation,),) = session_rows(session, _GENERATION_SQL)
        current = self._current
        if current is not None and current.generation == generation:
            return current
        if time.monotonic() < self._next_rebuild or not self._rebuilding.acquire(blocking=False):
            return None
        try:
            started = time.monotonic()
            current = _load_generation(session, generation)
            self._current = current
            finished = time.monotonic()
            self._next_rebuild = finished + (finished - started) * (1 / self._rebuild_share - 1)
            return current
        finally:
            self._rebuilding.release()

    def cached_terms(self) -> int:
        return len(self._current.postings) if self._current else 0

    def cached_postings(self) -> int:
        return self._current.cached if self._current else 0

    def close(self) -> None:
        self._closing.set()
        if self._warmer is not None:
            self._warmer.join()
        if self._tokenizer is not None:
            self._tokenizer.close()


def _load_generation(session: Session, generation: int) -> _Generation:
    """Every chunk's length in tokens, from FTS5's `docsize` table (a varint per column),
    and the file in a collection it belongs to (the triggers count a change of that too)."""
    rows = session_rows(session, _LENGTHS_SQL)
    owners = np.array(session_rows(session, _OWNERS_SQL), dtype=np.int64).reshape(-1, 2)
    top = max(max((row[0] for row in rows), default=0), int(owners[:, 0].max(initial=0)))
    lengths = np.zeros(top + 1, dtype=np.float64)
    for chunk_id, size in rows:
        lengths[chunk_id] = _varint_sum(size)
    collection_files = np.zeros(top + 1, dtype=np.int64)
    collection_files[owners[:, 0]] = owners[:, 1]
    total = float(lengths.sum())
    average = total / len(rows) if rows else 1.0
    return _Generation(generation, lengths, collection_files, len(rows), average)


def _varint_sum(blob: bytes) -> int:
    """The sum of SQLite varints in `blob` (big-endian, 7 bits a byte, the 9th byte whole)."""
    total, value, used = 0, 0, 0
    for byte in blob:
        used += 1
        if used == 9:
            total += (value << 8) | byte
            value, used = 0, 0
        elif byte & 0x80:
            value = (value << 7) | (byte & 0x7F)
        else:
            total += (value << 7) | byte
            value, used = 0, 0
    return total


def _best(
    ids_parts: list[NDArray[np.int64]],
    weight_parts: list[NDArray[np.float64]],
    collection_files: NDArray[np.int64],
    count: int,
) -> RankedMatches:
    ids = np.concatenate(ids_parts)
    weights = np.concatenate(weight_parts)
    size = len(collection_files)
    if not len(ids):
        return RankedMatches(ids, weights, ids, 0)
    # bincount adds each chunk's weights in query-term order, as bm25() does.
    if size <= 16 * len(ids):
        summed = np.bincount(ids, weights=weights, minlength=size).astype(np.float64, copy=False)
        matched = np.flatnonzero(summed)
        scores = summed[matched]
    else:  # a few matches in a large id space: no array over every id
        matched, where = np.unique(ids, return_inverse=True)
        scores = np.bincount(where, weights=weights).astype(np.float64, copy=False)
    if len(matched) > count:
        keep = np.argpartition(-scores, count - 1)[:count]
        matched, scores_kept = matched[keep], scores[keep]
    else:
        scores_kept = scores
    order = np.lexsort((matched, -scores_kept))
    best = matched[order]
    return RankedMatches(best, scores_kept[order], collection_files[best], total=len(scores))
