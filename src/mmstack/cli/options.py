"""The global options (`--data-dir`, `--config`), the settings every command loads, the
stack a command opens, and options shared by commands."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmstack.cli.output import fail
from mmstack.config.logging import configure_logging
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.config.settings import Settings
    from mmstack.stack import Stack

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


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


@contextmanager
def opened_stack(
    settings: Settings | None = None, *, make_first_admin: bool = True
) -> Iterator[Stack]:
    """The stack a command works on, with its log kept to warnings; a failure to open it
    ends the command with its message."""
    from mmstack.stack import open_stack

    settings = settings or cli_settings()
    configure_logging("WARNING", "console")
    try:
        with open_stack(settings, make_first_admin=make_first_admin) as stack:
            yield stack
    except MMStackError as exc:
        fail(exc.message)
