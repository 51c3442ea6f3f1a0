"""Search within one collection (OpenAI's vector store search): the hybrid `SearchService`,
narrowed to the collection and, with an attribute filter, to the files whose attributes
match it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmstack.errors import InvalidRequestError
from mmstack.index.attribute_filter import AttributeFilter
from mmstack.index.filters import SearchFilter
from mmstack.index.search import SearchHit, SearchService
from mmstack.knowledge.collections import files_matching
from mmstack.store.collections import completed_attributes, find_collection
from mmstack.store.db import Database
from mmstack.store.ownership import OwnerScoped

MAX_RESULTS = 50  # OpenAI's limit


@dataclass(frozen=True, slots=True)
class StoreHit:
    """A search hit with the attributes of its file in the collection."""

    hit: SearchHit
    attributes: dict[str, Any]
    score: float  # relevance in [0, 1], higher better


class CollectionSearch(OwnerScoped):
    def __init__(self, db: Database, search: SearchService) -> None:
        self._db = db
        self._search = search

    def search(
        self,
        vector_store_id: str,
        queries: Sequence[str],
        *,
        max_results: int = 10,
        flt: AttributeFilter | None = None,
        score_threshold: float | None = None,
    ) -> list[StoreHit]:
        """The best chunks for the queries (several are searched as one text)."""
        query = " ".join(q.strip() for q in queries if q.strip())
        if not query:
            raise InvalidRequestError("query must not be empty", param="query")
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidRequestError(
                f"max_num_results must be between 1 and {MAX_RESULTS}", param="max_num_results"
            )
        with self._db.session() as session:
            store_id = find_collection(
                session, vector_store_id, owner=self._owner, param="vector_store_id"
            ).id
            file_ids = files_matching(session, store_id, flt) if flt is not None else None
        if file_ids == []:
            return []
        hits = self._search.search(
            query, top_k=max_results, flt=SearchFilter(collection_ids=[store_id], file_ids=file_ids)
        )
        attributes: dict[str, dict[str, Any]] = {}
        if hits:
            with self._db.session() as session:
                attributes = completed_attributes(session, store_id, [h.file_id for h in hits])
        found = [
            StoreHit(h, attributes.get(h.file_id, {}), self._search.relevance(h.score))
            for h in hits
        ]
        return [h for h in found if score_threshold is None or h.score >= score_threshold]
