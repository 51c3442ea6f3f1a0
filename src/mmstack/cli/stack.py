"""`mmstack stack ...`: check the stack file, publish its schema, and drive `docker compose`
for a generated deployment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmstack.cli.output import console, fail, print_json
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.ops.docker import ComposeProject
    from mmstack.ops.stack_file import StackFile

stack_app = typer.Typer(
    help="The stack file and the deployment made from it.", no_args_is_help=True
)

FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Stack file (default: ./stack.yaml or the packaged one)"),
]
EnvOpt = Annotated[str, typer.Option("--env", help="development, staging, production or gpu")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def load(file: Path | None) -> StackFile:
    from mmstack.ops.stack_file import load_stack_file, locate_stack_file

    try:
        return load_stack_file(locate_stack_file(file))
    except MMStackError as exc:
        fail(exc.message)


@stack_app.command("validate")
def validate(file: FileOpt = None, json_out: JsonOpt = False) -> None:
    """Check the stack file; every error is reported with its path."""
    from mmstack.ops.stack_file import load_stack_file, locate_stack_file

    path = locate_stack_file(file)
    try:
        stack = load_stack_file(path)
    except MMStackError as exc:
        if json_out:
            print_json(
                {"file": str(path), "valid": False, "errors": getattr(exc, "errors", [exc.message])}
            )
            raise typer.Exit(1) from None
        fail(exc.message)
    if json_out:
        print_json({"file": str(path), "valid": True, "services": len(stack.services)})
    else:
        console.print(
            f"{path}: valid ({len(stack.services)} services, environments "
            f"{', '.join(stack.environments)})",
            highlight=False,
        )


@stack_app.command("schema")
def schema(out: Annotated[Path | None, typer.Option(help="Write it here")] = None) -> None:
    """Print (or write) the stack file's JSON schema."""
    from mmstack.ops.stack_file import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"wrote {out}")


def _project(file: Path | None, env: str, out: Path, only: str | None) -> ComposeProject:
    """The environment's compose project; with `only`, that stack and the stacks its
    services depend on (compose refuses a dependency whose profile is off)."""
    from mmstack.ops.compose import write_compose
    from mmstack.ops.docker import ComposeProject

    stack = load(file)
    try:
        compose_file = write_compose(stack, env, out)
        services = stack.resolved(env, [only] if only else None)
    except MMStackError as exc:
        fail(exc.message)
    return ComposeProject(compose_file, sorted({s.stack for s in services.values()}))


OutOpt = Annotated[Path, typer.Option(help="Where the compose file is written")]


def _run(project: ComposeProject, action: str, *args: str) -> None:
    from mmstack.ops.docker import DockerUnavailableError

    try:
        code = project.run(action, *args)
    except DockerUnavailableError as exc:
        fail(exc.message)
    if code:
        raise typer.Exit(code)


@stack_app.command("up")
def up(
    stack: Annotated[
        str | None, typer.Argument(help="One stack (default: the environment's)")
    ] = None,
    env: EnvOpt = "development",
    file: FileOpt = None,
    out: OutOpt = Path("deploy/compose"),
) -> None:
    """Start the environment's stacks (or STACK) with docker compose, waiting for health."""
    _run(_project(file, env, out, stack), "up", "--detach", "--wait")


@stack_app.command("down")
def down(
    stack: Annotated[str | None, typer.Argument(help="One stack")] = None,
    env: EnvOpt = "development",
    file: FileOpt = None,
    out: OutOpt = Path("deploy/compose"),
) -> None:
    """Stop and remove the containers (volumes are kept)."""
    _run(_project(file, env, out, stack), "down")


@stack_app.command("status")
def status(
    stack: Annotated[str | None, typer.Argument(help="One stack")] = None,
    env: EnvOpt = "development",
    file: FileOpt = None,
    out: OutOpt = Path("deploy/compose"),
) -> None:
    """The containers and their health."""
    _run(_project(file, env, out, stack), "ps")


@stack_app.command("logs")
def logs(
    stack: Annotated[str | None, typer.Argument(help="One stack")] = None,
    env: EnvOpt = "development",
    file: FileOpt = None,
    out: OutOpt = Path("deploy/compose"),
    follow: Annotated[bool, typer.Option("--follow", "-F")] = False,
) -> None:
    """The services' logs."""
    _run(_project(file, env, out, stack), "logs", *(["--follow"] if follow else []))
