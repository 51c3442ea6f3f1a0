"""Hybrid search: keyword and vector candidates, fused, hydrated from the database."""

from __future__ import annotations

import dataclasses
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from mmstack import metrics
from mmstack.config.settings import SearchSettings
from mmstack.errors import InvalidRequestError
from mmstack.index import fusion
from mmstack.index.filters import SearchFilter
from mmstack.index.image_search import ImageSearch
from mmstack.index.keyword import KeywordIndex
from mmstack.index.vector import VectorIndex
from mmstack.media_types import Modality, modality_of
from mmstack.models.embedder import Embedder
from mmstack.store.db import Database, json_value
from mmstack.store.ownership import Owner, OwnerScoped
from mmstack.store.search_rows import SearchRows
from mmstack.telemetry import span

SearchMode = Literal["hybrid", "keyword", "vector"]


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a chunk is in its file: pages and section; for media, how its text was got
    (`source`), the box it was read from, its time range, the image showing it (a key of
    the file's derived images) and the time range of each of its parts (`timeline`:
    offset in the chunk's text, start, end)."""

    page_start: int | None
    page_end: int | None
    heading_path: list[str]
    char_start: int
    char_end: int
    source: str = "text"
    region: tuple[int, int, int, int] | None = None
    time_start: float | None = None
    time_end: float | None = None
    thumbnail: str | None = None
    timeline: tuple[tuple[int, float, float], ...] = ()

    @classmethod
    def of_row(cls, row: Any) -> Anchor:
        """The anchor of a chunk's row: a search row (JSON columns as the driver gives
        them) or a `Chunk`."""
        region = json_value(row.region)
        return cls(
            row.page_start,
            row.page_end,
            list(json_value(row.heading_path) or []),
            row.char_start,
            row.char_end,
            row.source,
            tuple(region) if region else None,
            row.time_start,
            row.time_end,
            row.thumbnail,
            tuple((int(o), s, e) for o, s, e in json_value(row.timeline) or ()),
        )

    def moment(self, offset: int) -> tuple[float, float] | None:
        """The time range of the part of the chunk's text holding `offset`."""
        if not self.timeline:
            if self.time_start is None:
                return None
            return self.time_start, self.time_end or self.time_start
        found = self.timeline[0]
        for part in self.timeline:
            if part[0] > offset:
                break
            found = part
        return found[1], found[2]


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
    # For timed text: the time range of the chunk's part that best matches the query, the
    # second a player should seek to.
    moment: tuple[float, float] | None = None

    @property
    def modality(self) -> Modality:
        return modality_of(self.media_type)


class SearchService(OwnerScoped):
    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        vectors: VectorIndex,
        keywords: KeywordIndex,
        settings: SearchSettings,
        images: ImageSearch | None = None,
        image_weight: float = 0.5,
    ) -> None:
        self._db = db
        self._embedder = embedder
        self._vectors = vectors
        self._keywords = keywords
        self._settings = settings
        self._images = images
        self._image_weight = image_weight
        # The keyword query runs in SQLite/PostgreSQL and the query embedding in
        # onnxruntime, both outside the GIL: in hybrid mode they run side by side.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mmstack-keyword")
        self._rows = SearchRows(db.engine)

    def warm_in_background(self) -> None:
        """Prepare what the first searches would otherwise wait for (a server's start)."""
        self._keywords.warm_in_background(self._db)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def relevance(self, score: float) -> float:
        """A fused score as a relevance in [0, 1], higher better, in the same order (what
        OpenAI's vector store search reports): the logistic of a z-score sum, a min-max sum
        or a reciprocal-rank sum over its largest possible value."""
        settings = self._settings
        if settings.fusion == "zscore":
            return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, score))))
        weights = settings.keyword_weight + settings.vector_weight
        best = weights if settings.fusion == "minmax" else weights / (settings.rrf_k + 1)
        return max(0.0, min(1.0, score / best)) if best > 0 else 0.0

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
        with span("search", {"mmstack.search.mode": mode}) as current:
            if not metrics.recording():
                hits = self._search(query, mode, top_k, flt)
            else:
                with metrics.search_duration.labels(mode).time():
                    hits = self._search(query, mode, top_k, flt)
            current.set_attribute("mmstack.search.results", len(hits))
            return hits

    def _search(
        self, query: str, mode: SearchMode, top_k: int | None, flt: SearchFilter | None
    ) -> list[SearchHit]:
        visible: set[str] | None = None
        if self._owner is not None:
            flt, visible = self._within_owner(self._owner, flt or SearchFilter())
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
        image_hits: list[tuple[int, float]] = []
        if self._images is not None and mode in ("hybrid", "vector"):
            image_hits = self._images.search(query, limit=depth, flt=flt)
        keyword_hits = keyword_future.result() if keyword_future else []
        ranked = self._fuse(mode, keyword_hits, vector_hits, image_hits)
        ranks = {
            "keyword": {doc: i for i, (doc, _) in enumerate(keyword_hits, start=1)},
            "vector": {doc: i for i, (doc, _) in enumerate(vector_hits, start=1)},
        }
        if image_hits:
            ranks["image"] = {doc: i for i, (doc, _) in enumerate(image_hits, start=1)}
        # A candidate whose file is no longer completed is dropped in hydration; the next
        # top_k candidates stand in for those (hydrated only when some were).
        hits = self._hydrate(ranked[:top_k], ranks, query, visible)
        if len(hits) < top_k:
            hits += self._hydrate(ranked[top_k : top_k * 2], ranks, query, visible)
        return hits[:top_k]

    def _within_owner(self, owner: Owner, flt: SearchFilter) -> tuple[SearchFilter, set[str]]:
        """`flt` narrowed to the collections `owner` may see, and those collections.

        When the owner's team holds every collection and nothing narrows them, the indexes
        are searched without a collection condition (it would keep everything, and costs
        the vector search a third more); hydration still keeps only the owner's chunks, so
        a collection another team makes meanwhile is never shown."""
        visible = self._rows.team_collection_ids(owner.team_id)
        if owner.collection_ids is not None:
            visible &= owner.collection_ids
        if (
            owner.collection_ids is None
            and flt.collection_ids is None
            and not self._rows.other_team_has_collection(owner.team_id)
        ):
            return flt, visible
        wanted = visible if flt.collection_ids is None else visible & set(flt.collection_ids)
        return dataclasses.replace(flt, collection_ids=sorted(wanted)), visible

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
        image_hits: list[tuple[int, float]],
    ) -> list[tuple[int, float]]:
        if mode == "keyword":
            return keyword_hits
        if mode == "vector" and not image_hits:
            return vector_hits
        lists = [vector_hits]
        weights = [self._settings.vector_weight]
        if mode == "hybrid":
            lists.insert(0, keyword_hits)
            weights.insert(0, self._settings.keyword_weight)
        if image_hits:
            lists.append(image_hits)
            weights.append(self._image_weight)
        if self._settings.fusion in ("zscore", "minmax"):
            return fusion.normalized(lists, weights, method=self._settings.fusion)
        return fusion.rrf([[d for d, _ in hits] for hits in lists], weights, k=self._settings.rrf_k)

    def _hydrate(
        self,
        ranked: list[tuple[int, float]],
        ranks: dict[str, dict[int, int]],
        query: str,
        visible: set[str] | None,
    ) -> list[SearchHit]:
        """Hits for the candidates of completed files, in `visible` collections if given."""
        if not ranked:
            return []
        rows = self._rows.hits([doc for doc, _ in ranked])
        hits = []
        for doc, score in ranked:
            row = rows.get(doc)
            if row is None or (visible is not None and row.collection_id not in visible):
                continue
            anchor = Anchor.of_row(row)
            hits.append(
                SearchHit(
                    chunk_id=doc,
                    score=score,
                    text=row.text,
                    collection_id=row.collection_id,
                    file_id=row.file_id,
                    filename=row.filename,
                    media_type=row.media_type,
                    seq=row.seq,
                    anchor=anchor,
                    ranks={name: r[doc] for name, r in ranks.items() if doc in r},
                    moment=best_moment(row.text, anchor, query),
                )
            )
        return hits


_WORD = re.compile(r"\w{3,}")


def best_moment(text: str, anchor: Anchor, query: str) -> tuple[float, float] | None:
    """The time range of the part of a timed chunk with the most of the query's words
    (the earliest on a tie; the chunk's start when none matches)."""
    if anchor.time_start is None:
        return None
    if len(anchor.timeline) < 2:
        return anchor.moment(0)
    wanted = {w.lower() for w in _WORD.findall(query)}
    ends = [part[0] for part in anchor.timeline[1:]] + [len(text)]
    best, best_count = anchor.timeline[0], 0
    for part, end in zip(anchor.timeline, ends, strict=True):
        count = sum(w.lower() in wanted for w in _WORD.findall(text[part[0] : end]))
        if count > best_count:
            best, best_count = part, count
    return best[1], best[2]
