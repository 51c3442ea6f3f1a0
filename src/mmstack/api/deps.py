"""Dependencies the routers declare: the stack's services, by what they give."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mmstack.config.settings import ChunkingSettings
from mmstack.index.embeddings import EmbeddingService
from mmstack.index.model_directory import ModelDirectory
from mmstack.index.search import SearchService
from mmstack.ingest.collections import CollectionService
from mmstack.ingest.file_batches import FileBatchService
from mmstack.ingest.files import FileService
from mmstack.ingest.service import IngestionService
from mmstack.ingest.vector_store_search import VectorStoreSearch
from mmstack.ingest.vector_stores import VectorStoreService
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


def get_served_models(request: Request) -> ModelDirectory:
    return get_stack(request).served_models


def get_embeddings(request: Request) -> EmbeddingService:
    return get_stack(request).embeddings


def get_files(request: Request) -> FileService:
    return get_stack(request).files


def get_vector_stores(request: Request) -> VectorStoreService:
    return get_stack(request).vector_stores


def get_file_batches(request: Request) -> FileBatchService:
    return get_stack(request).file_batches


def get_store_search(request: Request) -> VectorStoreSearch:
    return get_stack(request).store_search


def get_chunking(request: Request) -> ChunkingSettings:
    return get_stack(request).settings.chunking


StackDep = Annotated[Stack, Depends(get_stack)]
CollectionsDep = Annotated[CollectionService, Depends(get_collections)]
IngestionDep = Annotated[IngestionService, Depends(get_ingestion)]
SearchDep = Annotated[SearchService, Depends(get_search)]
ServedModelsDep = Annotated[ModelDirectory, Depends(get_served_models)]
EmbeddingsDep = Annotated[EmbeddingService, Depends(get_embeddings)]
FilesDep = Annotated[FileService, Depends(get_files)]
VectorStoresDep = Annotated[VectorStoreService, Depends(get_vector_stores)]
FileBatchesDep = Annotated[FileBatchService, Depends(get_file_batches)]
StoreSearchDep = Annotated[VectorStoreSearch, Depends(get_store_search)]
ChunkingDep = Annotated[ChunkingSettings, Depends(get_chunking)]
