"""Shared fixtures: every storage test runs on SQLite and on the PostgreSQL at
127.0.0.1:5432 (trust auth, database `test`), each test in a schema of its own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mmstack.config.settings import IngestSettings, Settings
from mmstack.stack import Stack, open_stack

pytest_plugins = ["tests.s3_server"]

PG_DSN = os.environ.get("MMSTACK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

# Settings must come from the test, never from the developer's environment.
for name in list(os.environ):
    if name.startswith("MMSTACK_") and name != "MMSTACK_TEST_PG":
        del os.environ[name]


@pytest.fixture
def pg_url() -> Iterator[str]:
    schema = f"mmstack_t_{secrets.token_hex(6)}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    base = PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mmstack.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        ingest=IngestSettings(workers=0, retry_base_seconds=0.01, max_attempts=3),
    )


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    with open_stack(settings) as opened:
        yield opened
