"""What the clients take from the OpenAPI document is what the API publishes now: the
document itself, the Python client's models and the TypeScript client's types, each
regenerated here and compared with the committed file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[2] / "scripts" / "generate_clients.py"


def test_the_generated_client_files_match_the_api() -> None:
    spec = importlib.util.spec_from_file_location("generate_clients", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    stale = [
        str(path.relative_to(generator.ROOT))
        for path, text in generator.generated().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"stale: {stale}; run .venv/bin/python scripts/generate_clients.py"
