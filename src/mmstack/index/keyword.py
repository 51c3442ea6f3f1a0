"""Keyword search over chunk text: SQLite FTS5 (BM25) here, PostgreSQL full text (BM25) in
`keyword_postgres`.

Both indexes are maintained by the database itself (see the initial migration), so this
module only queries them.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Row, Select, bindparam, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from mmstack.index.filters import SearchFilter, searchable_chunks, searchable_collection_files
from mmstack.index.keyword_postings import Bm25Postings, RankedMatches
from mmstack.store.db import Database, PlainQuery
from mmstack.store.models import Chunk, CollectionFile

# English function words, dropped from keyword queries: a natural-language question should
# not match (and rank) every chunk containing "the" or "what". In the retrieval study behind
# the defaults, a list of this kind beat Lucene's 33 words and no list at all; the figures in
# bench/README.md were measured with this one.
STOPWORDS = frozenset(
    "a about above after again against all am an and any are as at be because been before "
    "being below between both but by can could did do does doing down during each few for "
    "from further had has have having he her here hers herself him himself his how i if in "
    "into is it its itself just me more most my myself no nor not now of off on once only or "
    "other our ours ourselves out over own same she should so some such than that the their "
    "theirs them themselves then there these they this those through to too under until up "
    "very was we were what when where which while who whom why will with would you your yours "
    "yourself yourselves".split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class KeywordHit(NamedTuple):
    id: int
    score: float  # higher is better; comparable within one query only


def query_terms(query: str) -> list[str]:
    """Lower-cased word tokens of `query` without repeats, order kept; stop words are
    dropped unless the query is made of nothing else ("to be or not to be")."""
    words = list(dict.fromkeys(_WORD.findall(query.lower())))
    return [w for w in words if w not in STOPWORDS] or words


class KeywordIndex(Protocol):
    def search(
        self, session: Session, query: str, *, limit: int, flt: SearchFilter | None = None
    ) -> list[KeywordHit]: ...

    def warm_in_background(self, db: Database) -> None:
        """Prepare in a thread what the first searches would otherwise wait for."""

    def close(self) -> None: ...


_fts = table("chunks_fts", column("rowid"))


def _unfiltered_top() -> Select[int, float]:
    """The best `limit` matches of `match`, ranked inside FTS5 alone, then the few chunks of
    files that are not completed dropped. Joining every match to its chunk and file before
    ranking costs about a third more on large indexes. Built once: it runs on every search."""
    rank = func.bm25(literal_column("chunks_fts"))
    top = (
        select(_fts.c.rowid.label("id"), rank.label("score"))
        .where(literal_column("chunks_fts").op("MATCH")(bindparam("match")))
        .order_by(rank)
        .limit(bindparam("limit"))
        .subquery()
    )
    stmt = select(top.c.id, top.c.score).join(Chunk, Chunk.id == top.c.id)
    return searchable_chunks(stmt, None).order_by(top.c.score)


_UNFILTERED_TOP = _unfiltered_top()

OVERFETCH = 4  # matches ranked per result wanted before a filter is applied
_OVERFETCHED = (
    select(_fts.c.rowid.label("id"), func.bm25(literal_column("chunks_fts")).label("score"))
    .where(literal_column("chunks_fts").op("MATCH")(bindparam("match")))
    .order_by(func.bm25(literal_column("chunks_fts")))
    .limit(bindparam("fetch"))
    .subquery()
)
_OVERFETCHED_TOP = select(_OVERFETCHED.c.id, _OVERFETCHED.c.score).join(
    Chunk, Chunk.id == _OVERFETCHED.c.id
)


class _SearchableFiles:
    """Which of some files in collections are searchable under a filter: a `PlainQuery`
    per filter (the ids go in one parameter, a JSON array for SQLite's json_each). It
    runs on every search."""

    KEEP = 64  # filters remembered, the least recently used dropped

    def __init__(self) -> None:
        self._queries: OrderedDict[str, PlainQuery] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(
        self, session: Session, flt: SearchFilter | None, collection_files: list[int]
    ) -> list[int]:
        key = repr(flt)
        with self._lock:
            query = self._queries.get(key)
            if query is not None:
                self._queries.move_to_end(key)
        if query is None:
            listed = func.json_each(bindparam("ids")).table_valued("value")
            stmt = select(CollectionFile.id).where(CollectionFile.id.in_(select(listed.c.value)))
            stmt = searchable_collection_files(stmt, flt)
            query = PlainQuery(session.get_bind().engine, stmt, runtime=["ids"])
            with self._lock:
                self._queries[key] = query
                while len(self._queries) > self.KEEP:
                    self._queries.popitem(last=False)
        rows = query.rows({"ids": json.dumps(collection_files)}, session)
        return [row[0] for row in rows]


class SqliteFtsKeywordIndex:
    """FTS5 with BM25 ranking; a query matches chunks containing any of its terms.

    With `postings`, the ranking is computed from term postings kept in memory (the same
    scores, a fraction of the time on large indexes); FTS5 ranks when they cannot answer."""

    def __init__(self, postings: Bm25Postings | None = None) -> None:
        self._postings = postings
        self._searchable_files = _SearchableFiles()

    def search(
        self, session: Session, query: str, *, limit: int, flt: SearchFilter | None = None
    ) -> list[KeywordHit]:
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        ranked = (
            self._postings.rank(session, terms, limit if flt is None else limit * OVERFETCH)
            if self._postings is not None
            else None
        )
        if ranked is not None:
            hits = self._searchable(session, ranked, limit, flt)
            if flt is None or len(hits) == limit or ranked.total == len(ranked.ids):
                return hits
            return self._narrow(session, match, limit, flt)
        if flt is None:
            top = session.execute(_UNFILTERED_TOP, {"match": match, "limit": limit})
            return [KeywordHit(int(row[0]), -float(row[1])) for row in top]
        # First the best few times `limit` matches, ranked inside FTS5 alone, then filtered:
        # enough when the filter keeps most chunks (a team that owns most of the index).
        overfetched = searchable_chunks(_OVERFETCHED_TOP, flt, after_matching=True)
        rows: Sequence[Row[int, float]] = session.execute(
            overfetched.order_by(_OVERFETCHED.c.score).limit(limit),
            {"match": match, "fetch": limit * OVERFETCH},
        ).all()
        if len(rows) < limit:
            return self._narrow(session, match, limit, flt)
        return [KeywordHit(int(row[0]), -float(row[1])) for row in rows]

    def _searchable(
        self, session: Session, ranked: RankedMatches, limit: int, flt: SearchFilter | None
    ) -> list[KeywordHit]:
        """The ranked chunks whose files are searchable under `flt`, decided file by file
        (a chunk's file is known from the postings; looking up each chunk costs more)."""
        # First the files of the best `limit` chunks: all of them are searchable when the
        # filter keeps every match (one team's index), and the rest need no look.
        kept: NDArray[np.bool_] = np.zeros(len(ranked.ids), dtype=np.bool_)
        for start, end in ((0, limit), (limit, len(ranked.ids))):
            owners = ranked.collection_files[start:end]
            if not len(owners):
                break
            searchable = self._searchable_files(session, flt, np.unique(owners).tolist())
            kept[start:end] = np.isin(owners, np.array(searchable, dtype=np.int64))
            if np.count_nonzero(kept) >= limit:
                break
        ids, scores = ranked.ids[kept][:limit], ranked.scores[kept][:limit]
        return list(map(KeywordHit, ids.tolist(), scores.tolist()))

    def _narrow(
        self, session: Session, match: str, limit: int, flt: SearchFilter
    ) -> list[KeywordHit]:
        """For a filter that keeps few of the best matches: every match ranked
        (materialized), then joined and filtered. Left to itself, SQLite would walk the
        filter's index over all chunks and probe the full-text index once per chunk:
        seconds at 100k chunks."""
        rank = func.bm25(literal_column("chunks_fts"))
        matches = (
            select(_fts.c.rowid.label("id"), rank.label("score"))
            .where(literal_column("chunks_fts").op("MATCH")(match))
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )
        stmt = select(matches.c.id, matches.c.score).join(Chunk, Chunk.id == matches.c.id)
        stmt = searchable_chunks(stmt, flt, after_matching=True)
        rows = session.execute(stmt.order_by(matches.c.score).limit(limit)).all()
        return [KeywordHit(int(row[0]), -float(row[1])) for row in rows]

    def warm_in_background(self, db: Database) -> None:
        if self._postings is not None:
            self._postings.warm_in_background(db.session)

    def close(self) -> None:
        if self._postings is not None:
            self._postings.close()
