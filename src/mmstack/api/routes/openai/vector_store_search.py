from __future__ import annotations

import time

from fastapi import APIRouter, Depends

from mmstack.api.deps import AnalyticsDep, PrincipalDep, StoreSearchDep, authorize
from mmstack.api.routes.openai.schemas.search import SearchPage, SearchRequest, StoreSearchResultOut
from mmstack.auth.roles import EndpointGroup, Permission

router = APIRouter(
    prefix="/v1/vector_stores",
    tags=["openai: vector stores"],
    dependencies=[Depends(authorize(EndpointGroup.VECTOR_STORES, Permission.READ))],
)


@router.post("/{vector_store_id}/search")
def search_vector_store(
    vector_store_id: str,
    body: SearchRequest,
    search: StoreSearchDep,
    analytics: AnalyticsDep,
    principal: PrincipalDep,
) -> SearchPage:
    """Hybrid search (BM25 and dense, fused) over the store's completed files. Several
    queries are searched as one text; `rewrite_query` and `ranking_options.ranker` are
    accepted and not applied. Scores are relevances in [0, 1], higher better (the fused
    score mapped in order: `SearchService.relevance`), so `score_threshold` works as with
    OpenAI."""
    started = time.perf_counter()
    ranking = body.ranking_options
    hits = search.search(
        vector_store_id,
        body.queries(),
        max_results=body.max_num_results,
        flt=body.attribute_filter(),
        score_threshold=ranking.score_threshold if ranking else None,
    )
    analytics.record_search(
        team_id=principal.team_id,
        user_id=principal.user_id,
        query=" ".join(body.queries()),
        mode="hybrid",
        results=len(hits),
        seconds=time.perf_counter() - started,
    )
    return SearchPage(search_query=body.queries(), data=[StoreSearchResultOut.of(h) for h in hits])
