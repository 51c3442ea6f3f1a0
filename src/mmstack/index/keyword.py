"""Keyword search over chunk text: SQLite FTS5 (BM25) or PostgreSQL full text.

Both indexes are maintained by the database itself (see the initial migration), so this
module only queries them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from mmstack.index.filters import SearchFilter, searchable_chunks
from mmstack.store.models import Chunk

# Lucene's English stop words: dropped from keyword queries so that a natural-language
# question does not match (and rank) every chunk that contains "the" or "of".
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class KeywordHit:
    id: int
    score: float  # higher is better; comparable within one query only


def query_terms(query: str) -> list[str]:
    """Lower-cased word tokens of `query`, stop words and repeats removed, order kept."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


class KeywordIndex(Protocol):
    def search(
        self, session: Session, query: str, *, limit: int, flt: SearchFilter | None = None
    ) -> list[KeywordHit]: ...


_fts = table("chunks_fts", column("rowid"))


class SqliteFtsKeywordIndex:
    """FTS5 with BM25 ranking; a query matches chunks containing any of its terms."""

    def search(
        self, session: Session, query: str, *, limit: int, flt: SearchFilter | None = None
    ) -> list[KeywordHit]:
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        rank = func.bm25(literal_column("chunks_fts"))
        stmt = (
            select(Chunk.id, rank)
            .select_from(_fts)
            .join(Chunk, Chunk.id == _fts.c.rowid)
            .where(literal_column("chunks_fts").op("MATCH")(match))
        )
        stmt = searchable_chunks(stmt, flt).order_by(rank).limit(limit)
        return [KeywordHit(int(row[0]), -float(row[1])) for row in session.execute(stmt)]


class PostgresKeywordIndex:
    """`tsvector` with the english configuration, ranked by `ts_rank_cd`."""

    def search(
        self, session: Session, query: str, *, limit: int, flt: SearchFilter | None = None
    ) -> list[KeywordHit]:
        terms = query_terms(query)
        if not terms:
            return []
        tsquery = func.to_tsquery("english", " | ".join(terms))
        tsv: ColumnElement[Any] = literal_column("chunks.tsv")
        rank = func.ts_rank_cd(tsv, tsquery)
        stmt = select(Chunk.id, rank).where(tsv.op("@@")(tsquery))
        stmt = searchable_chunks(stmt, flt).order_by(rank.desc()).limit(limit)
        return [KeywordHit(int(row[0]), float(row[1])) for row in session.execute(stmt)]


def keyword_index_for(dialect: str) -> KeywordIndex:
    if dialect == "sqlite":
        return SqliteFtsKeywordIndex()
    if dialect == "postgresql":
        return PostgresKeywordIndex()
    raise ValueError(f"no keyword index for database dialect {dialect!r}")
