"""The global options (`--data-dir`, `--config`) and the settings every command loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmstack.cli.output import fail

if TYPE_CHECKING:
    from mmstack.config.settings import Settings


@dataclasses.dataclass
class Options:
    data_dir: Path | None = None
    config: Path | None = None


options = Options()


def cli_settings(**overrides: Any) -> Settings:
    from mmstack.config.settings import load_settings

    try:
        return load_settings(options.config, data_dir=options.data_dir, **overrides)
    except FileNotFoundError as exc:
        fail(str(exc))
    except ValueError as exc:  # pydantic ValidationError
        fail(f"invalid settings: {exc}")
