"""`mmstack models`: the model registry."""

from __future__ import annotations

import dataclasses

import typer

from mmstack.cli.options import JsonOpt, cli_settings
from mmstack.cli.output import console, print_json, print_table

models_app = typer.Typer(help="The model registry.", no_args_is_help=True)


@models_app.command("list")
def models_list(json_out: JsonOpt = False) -> None:
    """Models the registry knows, where they come from and whether they are available."""
    from mmstack.stack.builders import model_registry

    registry = model_registry(cli_settings())
    statuses = [registry.status(spec.id) for spec in registry.specs()]
    if json_out:
        print_json([dataclasses.asdict(s) for s in statuses])
        return
    print_table(
        "models",
        ["id", "task", "available", "source", "description"],
        [(s.id, s.task, "yes" if s.available else "no", s.source, s.description) for s in statuses],
    )


@models_app.command("verify")
def models_verify(json_out: JsonOpt = False) -> None:
    """Re-hash every installed model's files against their pinned sha256; exits non-zero
    on any failure (a model whose package is not installed is listed, not a failure)."""
    from mmstack.stack.builders import model_registry

    registry = model_registry(cli_settings())
    statuses = [registry.status(spec.id, full=True) for spec in registry.specs()]
    if json_out:
        print_json([dataclasses.asdict(s) for s in statuses])
    else:
        for s in statuses:
            if s.available:
                mark = "[green]ok[/green]"
            elif not s.installed:
                mark = f"[yellow]not installed[/yellow] ({s.detail})"
            else:
                mark = f"[red]FAILED[/red] {s.detail}"
            console.print(f"{s.id}: {mark}", highlight=False)
    if any(s.installed and not s.available for s in statuses):
        raise typer.Exit(1)
