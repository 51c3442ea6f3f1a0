"""Keyword search over chunk text: SQLite FTS5 (BM25) here, PostgreSQL full text (BM25) in
`keyword_postgres`.

Both indexes are maintained by the database itself (see the initial migration), so this
module only queries them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Row, Select, bindparam, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from mmstack.index.filters import SearchFilter, searchable_chunks
from mmstack.store.models import Chunk

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


@dataclass(frozen=True, slots=True)
class KeywordHit:
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


class SqliteFtsKeywordIndex:
    """FTS5 with BM25 ranking; a query matches chunks containing any of its terms."""

    def search(
        self, session: Session, query: str, *, limit: int, flt: SearchFilter | None = None
    ) -> list[KeywordHit]:
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
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
            # A narrow filter: every match ranked (materialized), then joined and filtered.
            # Left to itself, SQLite would walk the filter's index over all chunks and probe
            # the full-text index once per chunk: seconds at 100k chunks.
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


def keyword_index_for(dialect: str) -> KeywordIndex:
    if dialect == "sqlite":
        return SqliteFtsKeywordIndex()
    if dialect == "postgresql":
        from mmstack.index.keyword_postgres import PostgresKeywordIndex

        return PostgresKeywordIndex()
    raise ValueError(f"no keyword index for database dialect {dialect!r}")
