"""The TypeScript client (`clients/typescript`) and the official `openai` npm package,
run with Node's test runner against a live server holding the bundled 0.5B model and a
collection for a knowledge model. `scripts/test` installs the npm packages (`npm ci`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

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
from tests.documents import make_pdf

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"
PAGES = [
    "Pump station report. The station pumps water for the town of Arden.",
    "Maintenance. The cooling pump of the Aurora-7 station was replaced on 12 March 2024. "
    "The old pump had run for 41,000 hours.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("typescript"),
        ingest=IngestSettings(workers=1),
        llm=LlmSettings(
            default_model=QWEN_0_5B_ID,
            embedded=EmbeddedLlmSettings(models=[QWEN_0_5B_ID], context_size=1024, threads=1),
        ),
        # As in tests/api/openai: the 0.5B model is too unsure for the check tuned on 1.5B.
        answer=AnswerSettings(answerability_check=False),
    )
    with serve(settings) as live:
        yield live


def _npm(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", *arguments], cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_typescript_client_and_the_openai_package_against_a_live_server(
    server: LiveServer,
) -> None:
    if shutil.which("npm") is None or not (PACKAGE / "node_modules").is_dir():
        pytest.fail(
            "the TypeScript client's packages are not installed: npm ci in clients/typescript"
        )
    built = _npm("run", "build")
    assert built.returncode == 0, built.stdout + built.stderr

    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    uploaded = client.files.create(
        file=("pumps.pdf", make_pdf(PAGES), "application/pdf"), purpose="assistants"
    )
    store = client.vector_stores.create(name="pump-reports")
    attached = client.vector_stores.files.create_and_poll(uploaded.id, vector_store_id=store.id)
    assert attached.status == "completed"
    first = server.stack.auth.first_admin
    assert first is not None
    assert first.password

    env = {
        **os.environ,
        "MMSTACK_URL": server.base_url.removesuffix("/v1"),
        "MMSTACK_KEY": server.api_key,
        "MMSTACK_ADMIN": first.username,
        "MMSTACK_ADMIN_PASSWORD": first.password,
        "MMSTACK_KNOWLEDGE_MODEL": "kb/pump-reports",
    }
    tested = _npm("test", env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "# pass 4" in tested.stdout
    assert "# fail 0" in tested.stdout
