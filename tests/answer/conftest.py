"""Fixtures for grounded answering: a stack with a small handbook ingested (search and the
embedder are real), and a scripted chat model at the LLM seam."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mmstack.config.settings import (
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    Settings,
)
from mmstack.models.catalog import QWEN_0_5B_ID
from mmstack.stack import Stack, open_stack

HANDBOOK = """# Karsholm lighthouse handbook

## Lamp

The main lamp of the Karsholm lighthouse is a 1000-watt metal halide bulb. It is replaced
every 14 months, or sooner when its output falls below 80 percent of the rated value.

## Fog signal

The fog signal sounds two blasts every 30 seconds. It was converted from compressed air to
an electric emitter in 1987.

## Tides

Spring tides at the landing reach 3.2 metres. The keeper records the tide height at six
in the morning and six in the evening.
"""

SUPPLIES = """# Supply boat

The supply boat calls on the first Monday of each month. It brings diesel for the
generator, fresh water and food for the two keepers.
"""


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def answer_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    embedded = EmbeddedLlmSettings(models=[QWEN_0_5B_ID], context_size=2048, threads=1)
    return Settings(
        data_dir=tmp_path_factory.mktemp("answer"),
        ingest=IngestSettings(workers=0),
        llm=LlmSettings(default_model=QWEN_0_5B_ID, embedded=embedded),
    )


@pytest.fixture(scope="session")
def handbook_stack(answer_settings: Settings) -> Iterator[Stack]:
    with open_stack(answer_settings) as stack:
        collection = stack.collections.create("lighthouse").id
        stack.intake.add_file(collection, "handbook.md", HANDBOOK.encode())
        stack.intake.add_file(collection, "supplies.md", SUPPLIES.encode())
        stack.collections.create("empty")
        stack.worker.run_until_idle()
        yield stack


def collection_id(stack: Stack, name: str) -> str:
    return stack.collections.resolve_id(name)
