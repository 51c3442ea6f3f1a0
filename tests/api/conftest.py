from __future__ import annotations

from tests.llm.fake_upstream import dead_url, fake_upstream  # noqa: F401  (shared fixtures)
