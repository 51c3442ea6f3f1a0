"""Fixtures of every API test: the fake upstream, and one live server per session on the
bundled 0.5B chat model (the OpenAI endpoints' and the MCP server's tests share it)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from mmstack.config.settings import (
    AnswerSettings,
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    Settings,
)
from mmstack.models.catalog import QWEN_0_5B_ID
from tests.api.live_server import LiveServer, serve
from tests.llm.fake_upstream import dead_url, fake_upstream  # noqa: F401  (shared fixtures)


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The bundled 0.5B chat model in-process: one thread, a small window, loaded once."""
    embedded = EmbeddedLlmSettings(models=[QWEN_0_5B_ID], context_size=1024, threads=1)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("embedded"),
        ingest=IngestSettings(workers=0),
        llm=LlmSettings(default_model=QWEN_0_5B_ID, embedded=embedded),
        # The 0.5B model is too unsure of itself for the answerability check tuned on the
        # 1.5B default; these tests are about the plumbing, verification stays on.
        answer=AnswerSettings(answerability_check=False),
    )
    with serve(settings) as server:
        yield server


@pytest.fixture(scope="session")
def embedded_client(embedded_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=embedded_server.base_url,
        api_key=embedded_server.api_key,
        max_retries=0,
        timeout=120,
    )
