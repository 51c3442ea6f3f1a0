from __future__ import annotations

import pytest

from tests.llm.fake_upstream import dead_url, fake_upstream  # noqa: F401  (shared fixtures)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
