"""Builds the LLM router from settings: the embedded backend first, then the upstreams."""

from __future__ import annotations

import httpx

from mmstack.config.settings import Settings
from mmstack.llm.backend import ChatBackend
from mmstack.llm.embedded import EmbeddedBackend
from mmstack.llm.llama import LlamaOptions
from mmstack.llm.router import LlmRouter
from mmstack.llm.upstream import UpstreamBackend
from mmstack.models.registry import ModelRegistry


def open_llm(
    settings: Settings,
    registry: ModelRegistry,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LlmRouter:
    """The router over every configured backend. Nothing is loaded or connected yet: an
    embedded model loads on its first request, once per process. `transport` replaces the
    network under every upstream (tests). Close with `await router.aclose()`."""
    llm = settings.llm
    backends: list[ChatBackend] = []
    if llm.embedded.enabled and llm.embedded.models:
        options = LlamaOptions(
            context_size=llm.embedded.context_size,
            parallel=llm.embedded.parallel,
            threads=llm.embedded.threads,
            batch_size=llm.embedded.batch_size,
        )
        backends.append(
            EmbeddedBackend(
                registry,
                llm.embedded.models,
                options,
                max_tool_tokens=llm.embedded.max_tool_tokens,
                tool_overflow=llm.embedded.tool_overflow,
            )
        )
    backends += [UpstreamBackend(upstream, transport=transport) for upstream in llm.upstreams]
    return LlmRouter(backends, llm.aliases, llm.default_model)
