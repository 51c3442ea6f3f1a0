"""Live mmstack servers and the official `openai` client pointed at them: one server per
test module for the storage endpoints and for chat on the fake upstream (the one on the
embedded 0.5B chat model is tests/api/conftest.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from mmstack.config.settings import (
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    Settings,
    UpstreamSettings,
)
from tests.api.live_server import LiveServer, serve
from tests.llm.fake_upstream import API_KEY, FakeUpstream, unused_url

MAX_FILE_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def storage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    settings = Settings(
        data_dir=data_dir,
        ingest=IngestSettings(workers=1, retry_base_seconds=0.01, max_file_bytes=MAX_FILE_BYTES),
    )
    with serve(settings) as server:
        yield server


@pytest.fixture(scope="module")
def base_url(storage_server: LiveServer) -> str:
    return storage_server.base_url


@pytest.fixture(scope="module")
def auth_headers(storage_server: LiveServer) -> dict[str, str]:
    return storage_server.headers


@pytest.fixture(scope="module")
def client(storage_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=storage_server.base_url, api_key=storage_server.api_key, max_retries=0, timeout=60
    )


def upstream_settings(data_dir: Path, upstream_url: str) -> Settings:
    """Chat models on the fake upstream only (see tests/llm/fake_upstream.py): `slow` behind
    a short read timeout, `down` on a port nothing listens on."""

    def upstream(name: str, url: str, models: list[str], **options: object) -> UpstreamSettings:
        fields = {"name": name, "base_url": url, "api_key": API_KEY, "models": models}
        return UpstreamSettings.model_validate({**fields, "max_retries": 0, **options})

    models = ["echo", "garbage", "endless", "midway", "tools", "agent", "too-long", "reject"]
    return Settings(
        data_dir=data_dir,
        ingest=IngestSettings(workers=0),
        llm=LlmSettings(
            default_model="echo",
            embedded=EmbeddedLlmSettings(enabled=False),
            upstreams=[
                upstream("fake", upstream_url, models),
                upstream("fake-slow", upstream_url, ["slow"], read_timeout=0.3),
                upstream("down", unused_url(), ["down"], connect_timeout=1),
            ],
        ),
    )


@pytest.fixture(scope="module")
def upstream_server(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream
) -> Iterator[LiveServer]:
    settings = upstream_settings(tmp_path_factory.mktemp("data"), fake_upstream.base_url)
    with serve(settings) as server:
        yield server


@pytest.fixture(scope="module")
def llm_client(upstream_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=upstream_server.base_url,
        api_key=upstream_server.api_key,
        max_retries=0,
        timeout=30,
    )
