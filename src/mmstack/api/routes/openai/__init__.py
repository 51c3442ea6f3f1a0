"""The OpenAI-compatible API under `/v1`: one router per resource, thin over the stack's
services, shaped so the official `openai` SDKs work unmodified."""

from __future__ import annotations

from fastapi import APIRouter

from mmstack.api.routes.openai import (
    audio,
    chat,
    conversations,
    embeddings,
    file_batches,
    files,
    models,
    responses,
    vector_store_files,
    vector_store_search,
    vector_stores,
)

ROUTERS: tuple[APIRouter, ...] = (
    models.router,
    chat.router,
    responses.router,
    conversations.router,
    embeddings.router,
    audio.router,
    files.router,
    vector_stores.router,
    vector_store_files.router,
    file_batches.router,
    vector_store_search.router,
)
