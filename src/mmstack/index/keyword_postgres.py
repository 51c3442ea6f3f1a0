"""BM25 over PostgreSQL full text.

PostgreSQL's own rankings (`ts_rank`, `ts_rank_cd`) weigh every term alike: with no
document frequency, "patients" counts as much as "thalassemia", and hybrid search on top of
them lost to vector search alone (bench/README.md). So the ranking here is BM25, computed in
SQL from the `tsvector` column: the GIN index finds the chunks holding any query term, each
one's term frequencies come from the positions of the query's lexemes in its `tsvector`,
document frequencies are counted over those same matches, and a chunk's length is its
number of distinct lexemes.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, bindparam, func, literal_column, select, true
from sqlalchemy.orm import Session

from mmstack.index.filters import SearchFilter, searchable_chunks
from mmstack.index.keyword import KeywordHit, query_terms
from mmstack.store.db import Database
from mmstack.store.models import Chunk

K1 = 1.2  # the constants SQLite's bm25() uses, so both databases rank alike
B = 0.75
STATS_MAX_AGE_SECONDS = 300.0

_TSV: ColumnElement[Any] = literal_column("chunks.tsv")


class PostgresKeywordIndex:
    """A query matches chunks containing any of its terms (english stemming), ranked BM25."""

    def __init__(self, stats_max_age: float = STATS_MAX_AGE_SECONDS) -> None:
        # The chunk count and mean length change slowly and cost a pass over the table to
        # measure, so they are remembered for a while rather than read on every query.
        self._stats_max_age = stats_max_age
        self._stats: tuple[float, int, float] | None = None  # (measured at, count, mean)
        self._lock = threading.Lock()

    def warm_in_background(self, db: Database) -> None:
        pass  # nothing is kept in memory

    def close(self) -> None:
        pass  # holds no resources

    def search(
        self, session: Session, query: str, *, limit: int, flt: SearchFilter | None = None
    ) -> list[KeywordHit]:
        terms = query_terms(query)
        if not terms:
            return []
        count, mean_length = self._corpus_stats(session)
        if count == 0:
            return []
        tsquery = func.to_tsquery("english", " | ".join(terms))
        lexemes = func.tsvector_to_array(func.to_tsvector("english", " ".join(terms)))
        # The chunk's tsvector cut down to the query's lexemes: label them A, keep only A.
        found = (
            func.unnest(
                func.ts_filter(
                    func.setweight(_TSV, literal_column("'A'::\"char\""), lexemes),
                    literal_column("'{a}'::\"char\"[]"),
                )
            )
            .table_valued("lexeme", "positions", "weights")
            .lateral("found")
        )
        matches = (
            select(
                Chunk.id.label("id"),
                func.length(_TSV).label("length"),
                found.c.lexeme,
                func.cardinality(found.c.positions).label("tf"),
            )
            .select_from(Chunk)
            .join(found, true())
            .where(_TSV.op("@@")(tsquery))
        )
        matches_cte = searchable_chunks(matches, flt).cte("matches")
        df = (
            select(matches_cte.c.lexeme, func.count().label("n"))
            .group_by(matches_cte.c.lexeme)
            .cte("df")
        )
        n = bindparam("n", count, type_=Integer)
        mean = bindparam("mean", mean_length, type_=Float)
        idf = func.ln(1 + (n - df.c.n + 0.5) / (df.c.n + 0.5))
        tf = matches_cte.c.tf
        saturation = tf * (K1 + 1) / (tf + K1 * (1 - B + B * matches_cte.c.length / mean))
        score = func.sum(idf * saturation).label("score")
        stmt = (
            select(matches_cte.c.id, score)
            .join(df, df.c.lexeme == matches_cte.c.lexeme)
            .group_by(matches_cte.c.id)
            .order_by(score.desc(), matches_cte.c.id)
            .limit(limit)
        )
        return [KeywordHit(int(row[0]), float(row[1])) for row in session.execute(stmt)]

    def _corpus_stats(self, session: Session) -> tuple[int, float]:
        with self._lock:
            stats = self._stats
        if stats is not None and time.monotonic() - stats[0] < self._stats_max_age:
            return stats[1], stats[2]
        count, mean = session.execute(
            select(func.count(), func.coalesce(func.avg(func.length(_TSV)), 0.0)).select_from(Chunk)
        ).one()
        measured = (time.monotonic(), int(count), max(float(mean), 1.0))
        with self._lock:
            self._stats = measured
        return measured[1], measured[2]
