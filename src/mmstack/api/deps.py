"""Dependencies the routers declare: the stack's services, by what they give."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mmstack.index.search import SearchService
from mmstack.ingest.collections import CollectionService
from mmstack.ingest.service import IngestionService
from mmstack.stack import Stack


def get_stack(request: Request) -> Stack:
    stack: Stack = request.app.state.stack
    return stack


def get_collections(request: Request) -> CollectionService:
    return get_stack(request).collections


def get_ingestion(request: Request) -> IngestionService:
    return get_stack(request).ingestion


def get_search(request: Request) -> SearchService:
    return get_stack(request).search


StackDep = Annotated[Stack, Depends(get_stack)]
CollectionsDep = Annotated[CollectionService, Depends(get_collections)]
IngestionDep = Annotated[IngestionService, Depends(get_ingestion)]
SearchDep = Annotated[SearchService, Depends(get_search)]
