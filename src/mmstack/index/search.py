"""Hybrid search: keyword and vector candidates, fused, hydrated from the database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select

from mmstack.config.settings import SearchSettings
from mmstack.errors import InvalidRequestError
from mmstack.index import fusion
from mmstack.index.filters import SearchFilter
from mmstack.index.keyword import KeywordIndex
from mmstack.index.vector import VectorIndex
from mmstack.models.embedder import Embedder
from mmstack.store.db import Database
from mmstack.store.models import Chunk, CollectionFile, FileStatus, StoredFile

SearchMode = Literal["hybrid", "keyword", "vector"]


@dataclass(frozen=True, slots=True)
class Anchor:
    page_start: int | None
    page_end: int | None
    heading_path: list[str]
    char_start: int
    char_end: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    chunk_id: int
    score: float
    text: str
    collection_id: str
    file_id: str
    filename: str
    media_type: str
    seq: int
    anchor: Anchor
    ranks: dict[str, int] = field(default_factory=dict)  # rank in each candidate list, from 1


class SearchService:
    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        vectors: VectorIndex,
        keywords: KeywordIndex,
        settings: SearchSettings,
    ) -> None:
        self._db = db
        self._embedder = embedder
        self._vectors = vectors
        self._keywords = keywords
        self._settings = settings
        # The keyword query runs in SQLite/PostgreSQL and the query embedding in
        # onnxruntime, both outside the GIL: in hybrid mode they run side by side.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mmstack-keyword")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def search(
        self,
        query: str,
        *,
        mode: SearchMode | None = None,
        top_k: int | None = None,
        flt: SearchFilter | None = None,
    ) -> list[SearchHit]:
        if not query.strip():
            raise InvalidRequestError("query must not be empty", param="query")
        mode = mode or self._settings.mode
        if flt is not None and flt.is_empty():
            flt = None  # lets each index take its unfiltered fast path
        top_k = top_k or self._settings.top_k
        depth = max(self._settings.candidates, top_k)
        keyword_future = (
            self._pool.submit(self._keyword_search, query, depth, flt)
            if mode in ("hybrid", "keyword")
            else None
        )
        vector_hits: list[tuple[int, float]] = []
        if mode in ("hybrid", "vector"):
            vector = self._embedder.embed_query(query)
            vector_hits = [
                (h.id, h.score) for h in self._vectors.search(vector, limit=depth, flt=flt)
            ]
        keyword_hits = keyword_future.result() if keyword_future else []
        ranked = self._fuse(mode, keyword_hits, vector_hits)
        ranks = {
            "keyword": {doc: i for i, (doc, _) in enumerate(keyword_hits, start=1)},
            "vector": {doc: i for i, (doc, _) in enumerate(vector_hits, start=1)},
        }
        # Hydrate more than top_k: a candidate whose file is no longer completed is dropped.
        return self._hydrate(ranked[: top_k * 2], ranks)[:top_k]

    def _keyword_search(
        self, query: str, depth: int, flt: SearchFilter | None
    ) -> list[tuple[int, float]]:
        with self._db.session() as session:
            found = self._keywords.search(session, query, limit=depth, flt=flt)
        return [(h.id, h.score) for h in found]

    def _fuse(
        self,
        mode: SearchMode,
        keyword_hits: list[tuple[int, float]],
        vector_hits: list[tuple[int, float]],
    ) -> list[tuple[int, float]]:
        if mode == "keyword":
            return keyword_hits
        if mode == "vector":
            return vector_hits
        weights = (self._settings.keyword_weight, self._settings.vector_weight)
        if self._settings.fusion in ("zscore", "minmax"):
            return fusion.normalized(
                (keyword_hits, vector_hits), weights, method=self._settings.fusion
            )
        return fusion.rrf(
            ([d for d, _ in keyword_hits], [d for d, _ in vector_hits]),
            weights,
            k=self._settings.rrf_k,
        )

    def _hydrate(
        self, ranked: list[tuple[int, float]], ranks: dict[str, dict[int, int]]
    ) -> list[SearchHit]:
        if not ranked:
            return []
        ids = [doc for doc, _ in ranked]
        stmt = (
            select(Chunk, StoredFile.filename, StoredFile.media_type)
            .join(CollectionFile, CollectionFile.id == Chunk.collection_file_id)
            .join(StoredFile, StoredFile.id == Chunk.file_id)
            .where(Chunk.id.in_(ids), CollectionFile.status == FileStatus.COMPLETED)
        )
        with self._db.session() as session:
            rows = {chunk.id: (chunk, name, media) for chunk, name, media in session.execute(stmt)}
        hits = []
        for doc, score in ranked:
            if doc not in rows:
                continue
            chunk, filename, media_type = rows[doc]
            hits.append(
                SearchHit(
                    chunk_id=chunk.id,
                    score=score,
                    text=chunk.text,
                    collection_id=chunk.collection_id,
                    file_id=chunk.file_id,
                    filename=filename,
                    media_type=media_type,
                    seq=chunk.seq,
                    anchor=Anchor(
                        chunk.page_start,
                        chunk.page_end,
                        list(chunk.heading_path),
                        chunk.char_start,
                        chunk.char_end,
                    ),
                    ranks={name: r[doc] for name, r in ranks.items() if doc in r},
                )
            )
        return hits
