from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response

from mmstack.api.deps import (
    AnalyticsDep,
    CollectionsDep,
    PrincipalDep,
    SearchDep,
    SettingsDep,
    authorize,
)
from mmstack.api.schemas import (
    SearchClickRequest,
    SearchRequest,
    SearchResponse,
    SearchResultOut,
)
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.errors import InvalidRequestError
from mmstack.index.filters import SearchFilter, media_type_filter

router = APIRouter(
    prefix="/api",
    tags=["search"],
    dependencies=[Depends(authorize(EndpointGroup.SEARCH, Permission.READ))],
)


@router.post("/search")
def search(
    body: SearchRequest,
    service: SearchDep,
    collections: CollectionsDep,
    settings: SettingsDep,
    analytics: AnalyticsDep,
    principal: PrincipalDep,
) -> SearchResponse:
    """Hybrid (BM25 + dense, fused), keyword or vector search over completed files."""
    started = time.perf_counter()
    f = body.filters
    flt = SearchFilter(
        collection_ids=[collections.resolve_id(c) for c in body.collections]
        if body.collections
        else None,
        file_ids=f.file_ids if f else None,
        media_types=media_type_filter(f.media_types, f.modalities) if f else None,
        tags=f.tags if f else None,
        created_after=f.created_after if f else None,
        created_before=f.created_before if f else None,
    )
    hits = service.search(body.query, mode=body.mode, top_k=body.top_k, flt=flt)
    mode = body.mode or settings.search.mode
    analytics.record_search(
        team_id=principal.team_id,
        user_id=principal.user_id,
        query=body.query,
        mode=mode,
        results=len(hits),
        seconds=time.perf_counter() - started,
    )
    return SearchResponse(query=body.query, mode=mode, data=[SearchResultOut.of(h) for h in hits])


@router.post("/search/clicks", status_code=204, response_class=Response)
def search_click(
    body: SearchClickRequest, analytics: AnalyticsDep, principal: PrincipalDep
) -> Response:
    """Count a result opened from a search's results (click-through in `/api/stats/search`;
    nothing is kept with `search.record_queries` off)."""
    if not body.query.strip():
        raise InvalidRequestError("query must not be empty", param="query")
    analytics.record_click(
        team_id=principal.team_id,
        user_id=principal.user_id,
        query=body.query,
        mode=body.mode,
        rank=body.rank,
        first=body.first,
    )
    return Response(status_code=204)
