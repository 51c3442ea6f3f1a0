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

# The providers are coroutines although they only read attributes: FastAPI runs a plain
# `def` dependency in its thread pool, a thread hop per dependency on every request.


def stack_of(request: Request) -> Stack:
    stack: Stack = request.app.state.stack
    return stack


async def get_stack(request: Request) -> Stack:
    return stack_of(request)


async def get_collections(request: Request) -> CollectionService:
    return stack_of(request).collections


async def get_ingestion(request: Request) -> IngestionService:
    return stack_of(request).ingestion


async def get_search(request: Request) -> SearchService:
    return stack_of(request).search


async def get_served_models(request: Request) -> ModelDirectory:
    return stack_of(request).served_models


async def get_embeddings(request: Request) -> EmbeddingService:
    return stack_of(request).embeddings


async def get_files(request: Request) -> FileService:
    return stack_of(request).files


async def get_vector_stores(request: Request) -> VectorStoreService:
    return stack_of(request).vector_stores


async def get_file_batches(request: Request) -> FileBatchService:
    return stack_of(request).file_batches


async def get_store_search(request: Request) -> VectorStoreSearch:
    return stack_of(request).store_search


async def get_chunking(request: Request) -> ChunkingSettings:
    return stack_of(request).settings.chunking


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
