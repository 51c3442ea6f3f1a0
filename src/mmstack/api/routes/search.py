from __future__ import annotations

import time

from fastapi import APIRouter, Depends

from mmstack.api.deps import (
    AnalyticsDep,
    CollectionsDep,
    PrincipalDep,
    SearchDep,
    SettingsDep,
    authorize,
)
from mmstack.api.schemas import SearchRequest, SearchResponse, SearchResultOut
from mmstack.auth.roles import EndpointGroup, Permission
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
