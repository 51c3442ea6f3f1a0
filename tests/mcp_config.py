"""The MCP client configurations docs/MCP.md shows, for the tests that run them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def documented_config(marker: str) -> dict[str, Any]:
    """The `mmstack` entry of the configuration docs/MCP.md shows after `marker`."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "MCP.md").read_text()
    after = page.split(f"<!-- {marker} -->", 1)[1]
    block = after.split("```json", 1)[1].split("```", 1)[0]
    entry: dict[str, Any] = json.loads(block)["mcpServers"]["mmstack"]
    return entry
