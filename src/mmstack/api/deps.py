"""Dependencies the routers declare: who is asking (`PrincipalDep`), whether they may
(`authorize`, on every router), and the stack's services bound to what they own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import Depends, Request

from mmstack.auth.audit import Actor
from mmstack.auth.principal import Principal
from mmstack.auth.quotas import Meter
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.auth.service import Auth
from mmstack.config.settings import ChunkingSettings, Settings
from mmstack.index.embeddings import EmbeddingService
from mmstack.index.model_directory import ModelDirectory
from mmstack.index.search import SearchService
from mmstack.knowledge.analytics import Analytics
from mmstack.knowledge.batches import FileBatchService
from mmstack.knowledge.collections import CollectionService
from mmstack.knowledge.files import FileService
from mmstack.knowledge.intake import Intake
from mmstack.knowledge.knowledge_models import KnowledgeModels
from mmstack.knowledge.previews import PagePreviews
from mmstack.knowledge.search import CollectionSearch
from mmstack.llm.agents import AgentService
from mmstack.llm.api_conversations import ApiConversations
from mmstack.llm.memories import MemoryService
from mmstack.llm.stored_responses import ResponseStore
from mmstack.stack import Stack
from mmstack.store.jobs import JobQueue

# The providers are coroutines although they only read attributes: FastAPI runs a plain
# `def` dependency in its thread pool, a thread hop per dependency on every request.


def upload_reads(request: Request) -> anyio.Semaphore:
    """Taken while an uploaded file is read into memory and stored: a burst of large
    uploads waits its turn instead of holding them all in memory at once."""
    semaphore: anyio.Semaphore = request.app.state.upload_reads
    return semaphore


def transcriptions(request: Request) -> anyio.Semaphore:
    """Taken while an uploaded recording is decoded and transcribed: a burst of requests
    waits its turn instead of running a helper and Whisper each at once."""
    semaphore: anyio.Semaphore = request.app.state.transcriptions
    return semaphore


def stack_of(request: Request) -> Stack:
    stack: Stack = request.app.state.stack
    return stack


async def get_stack(request: Request) -> Stack:
    return stack_of(request)


async def current_principal(request: Request) -> Principal:
    """The caller, from its Bearer key or access token, counted against its rate limits.
    Kept on the request for the audit of what it does."""
    auth = stack_of(request).auth
    principal = auth.authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    auth.quotas.check_request(principal, upload=_is_upload(request))
    return principal


# The routes that take files, counted against `quotas.upload_requests_per_minute`.
UPLOAD_ROUTES = frozenset({"/v1/files", "/api/collections/{collection}/files"})


def _is_upload(request: Request) -> bool:
    route = request.scope.get("route")
    return request.method == "POST" and getattr(route, "path", None) in UPLOAD_ROUTES


PrincipalDep = Annotated[Principal, Depends(current_principal)]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authorize(
    group: EndpointGroup | None, permission: Permission | None = None
) -> Callable[..., Awaitable[Principal]]:
    """A router's guard: the caller must be allowed `group`'s endpoints (an API key may be
    limited to some) and hold `permission`; without one, reading methods need READ and
    the others WRITE."""

    async def guard(request: Request, principal: PrincipalDep) -> Principal:
        if group is not None:
            principal.require_endpoint(group)
        needed = permission or (
            Permission.READ if request.method in _READ_METHODS else Permission.WRITE
        )
        principal.require(needed)
        return principal

    return guard


def actor_of(request: Request, principal: Principal | None = None) -> Actor:
    """The audit log's view of who acts, and from which address."""
    address = request.client.host if request.client else None
    if principal is None:
        return Actor(address=address)
    return Actor(principal.user_id, principal.key_id, principal.team_id, address)


async def get_actor(request: Request, principal: PrincipalDep) -> Actor:
    return actor_of(request, principal)


ActorDep = Annotated[Actor, Depends(get_actor)]


async def get_settings(request: Request) -> Settings:
    return stack_of(request).settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_auth(request: Request) -> Auth:
    return stack_of(request).auth


AuthDep = Annotated[Auth, Depends(get_auth)]


async def get_meter(request: Request, principal: PrincipalDep) -> Meter:
    return Meter(stack_of(request).auth.quotas, principal)


MeterDep = Annotated[Meter, Depends(get_meter)]


async def get_collections(request: Request, principal: PrincipalDep) -> CollectionService:
    return stack_of(request).collections.for_owner(principal.owner)


async def get_intake(request: Request) -> Intake:
    return stack_of(request).intake


async def get_search(request: Request, principal: PrincipalDep) -> SearchService:
    return stack_of(request).search.for_owner(principal.owner)


async def get_served_models(request: Request) -> ModelDirectory:
    return stack_of(request).served_models


async def get_embeddings(request: Request) -> EmbeddingService:
    return stack_of(request).embeddings


async def get_files(request: Request, principal: PrincipalDep) -> FileService:
    return stack_of(request).files.for_owner(principal.owner)


async def get_vector_stores(request: Request, principal: PrincipalDep) -> CollectionService:
    """The collections, as OpenAI's vector store routes address them."""
    collections = stack_of(request).collections.for_owner(principal.owner)
    return collections.addressed_as("vector_store_id")


async def get_file_batches(request: Request, principal: PrincipalDep) -> FileBatchService:
    return stack_of(request).file_batches.for_owner(principal.owner)


async def get_store_search(request: Request, principal: PrincipalDep) -> CollectionSearch:
    return stack_of(request).store_search.for_owner(principal.owner)


async def get_agents(request: Request, principal: PrincipalDep) -> AgentService:
    return stack_of(request).agents.for_owner(principal.owner)


async def get_memories(request: Request, principal: PrincipalDep) -> MemoryService:
    """The caller's own memories (no route can name another person's)."""
    return stack_of(request).memories.for_user(principal.user_id)


async def get_api_conversations(request: Request, principal: PrincipalDep) -> ApiConversations:
    return stack_of(request).api_conversations.for_owner(principal.owner)


async def get_stored_responses(request: Request, principal: PrincipalDep) -> ResponseStore:
    return stack_of(request).stored_responses.for_owner(principal.owner)


async def get_previews(request: Request, principal: PrincipalDep) -> PagePreviews:
    return stack_of(request).previews.for_owner(principal.owner)


async def get_knowledge_models(request: Request, principal: PrincipalDep) -> KnowledgeModels:
    return stack_of(request).knowledge_models.for_owner(principal.owner)


async def get_jobs(request: Request) -> JobQueue:
    return stack_of(request).queue


async def get_chunking(request: Request) -> ChunkingSettings:
    return stack_of(request).settings.chunking


StackDep = Annotated[Stack, Depends(get_stack)]
CollectionsDep = Annotated[CollectionService, Depends(get_collections)]
IntakeDep = Annotated[Intake, Depends(get_intake)]
SearchDep = Annotated[SearchService, Depends(get_search)]
ServedModelsDep = Annotated[ModelDirectory, Depends(get_served_models)]
EmbeddingsDep = Annotated[EmbeddingService, Depends(get_embeddings)]
FilesDep = Annotated[FileService, Depends(get_files)]
VectorStoresDep = Annotated[CollectionService, Depends(get_vector_stores)]
FileBatchesDep = Annotated[FileBatchService, Depends(get_file_batches)]
StoreSearchDep = Annotated[CollectionSearch, Depends(get_store_search)]


def get_analytics(request: Request) -> Analytics:
    return stack_of(request).analytics


AnalyticsDep = Annotated[Analytics, Depends(get_analytics)]
JobsDep = Annotated[JobQueue, Depends(get_jobs)]
ChunkingDep = Annotated[ChunkingSettings, Depends(get_chunking)]
AgentsDep = Annotated[AgentService, Depends(get_agents)]
MemoriesDep = Annotated[MemoryService, Depends(get_memories)]
ApiConversationsDep = Annotated[ApiConversations, Depends(get_api_conversations)]
StoredResponsesDep = Annotated[ResponseStore, Depends(get_stored_responses)]
PreviewsDep = Annotated[PagePreviews, Depends(get_previews)]
KnowledgeModelsDep = Annotated[KnowledgeModels, Depends(get_knowledge_models)]
