"""`mmstack secrets ...`: generate, render, rotate, roll back and inspect the secrets of a
deployment. Only `show NAME --reveal` prints a value; every other output names secrets,
versions and ages, never what they are."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from mmstack.cli.output import console, fail, print_json, print_table
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.ops.secrets_rotation import Change
    from mmstack.ops.secrets_store import SecretsStore
    from mmstack.ops.stack_file import StackFile

secrets_app = typer.Typer(
    help="Generate, render, rotate and roll back the secrets of a deployment.",
    no_args_is_help=True,
)


EnvOpt = Annotated[str, typer.Option("--env", help="Environment of the stack file")]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", help="Stack file (default: ./stack.yaml, else the packaged one)"),
]
StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Encrypted store (default: .mmstack/secrets.enc by the stack)"),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="Key file, 0600 (default: MMSTACK_SECRETS_KEY, else .mmstack/secrets.key)",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL to change the database password in first (postgresql://...)",
    ),
]


@dataclasses.dataclass(frozen=True)
class _Where:
    stack_path: Path
    store: Path
    key_file: Path
    key_explicit: bool


def _where(file: Path | None, store: Path | None, key_file: Path | None) -> _Where:
    """The store sits next to the stack file; next to the packaged default, in the
    current directory (the package may be read-only)."""
    from mmstack.ops.secrets_store import KEY_NAME, STORE_DIR, STORE_NAME
    from mmstack.ops.stack_file import PACKAGED_STACK, locate_stack_file

    file = locate_stack_file(file)
    base = Path(".") if file == PACKAGED_STACK else file.parent
    return _Where(
        stack_path=file,
        store=store or base / STORE_DIR / STORE_NAME,
        key_file=key_file or base / STORE_DIR / KEY_NAME,
        key_explicit=key_file is not None,
    )


@contextmanager
def _opened(
    env: str, where: _Where, *, write: bool = False, create_key: bool = False
) -> Iterator[tuple[StackFile, SecretsStore]]:
    from mmstack.ops.secrets_store import SecretsStore, load_key, locked
    from mmstack.ops.stack_file import load_stack_file

    try:
        stack = load_stack_file(where.stack_path)
        stack.environment(env)
        # Errors in the caller's block land in the handlers below too.
        with locked(where.store) if write else nullcontext():
            key = load_key(
                where.key_file,
                explicit=where.key_explicit,
                create=create_key and not where.store.exists(),
            )
            if key.created:
                console.print(
                    f"created the key file {key.source}: keep a copy in a safe place, "
                    "the store cannot be read without it",
                    highlight=False,
                    soft_wrap=True,
                )
            yield stack, SecretsStore.open(where.store, key)
    except MMStackError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"{exc.filename or where.store}: {exc.strerror}")


@secrets_app.command("init")
def init(
    env: EnvOpt,
    file: FileOpt = None,
    store: StoreOpt = None,
    key_file: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Generate every secret the stack file lists that the environment lacks."""
    from mmstack.ops import secrets_rotation as rotation

    where = _where(file, store, key_file)
    with _opened(env, where, write=True, create_key=True) as (stack, opened):
        created, existing = rotation.init_secrets(opened, stack, env)
        if created:
            opened.save()
    if json_out:
        print_json(
            {"env": env, "store": str(where.store), "created": created, "existing": existing}
        )
    elif created:
        console.print(
            f"{env}: generated {len(created)} secrets ({', '.join(created)}); "
            f"{len(existing)} already there; store {where.store}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(f"{env}: all {len(existing)} secrets already there", highlight=False)


@secrets_app.command("render")
def render_cmd(
    env: EnvOpt,
    fmt: Annotated[str, typer.Option("--format", help="dotenv, compose or kubernetes")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write into")] = Path("."),
    file: FileOpt = None,
    store: StoreOpt = None,
    key_file: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the current secrets: out/.env, out/secrets/<name> or out/secrets.yaml (0600)."""
    from mmstack.ops.secrets_render import FORMATS, Format, render

    if fmt not in FORMATS:
        fail(f"unknown format '{fmt}': one of {', '.join(FORMATS)}")
    with _opened(env, _where(file, store, key_file)) as (stack, opened):
        written = render(opened, stack, env, cast(Format, fmt), out)
    if json_out:
        print_json({"env": env, "format": fmt, "files": [str(p) for p in written]})
    else:
        console.print(f"{env}: wrote {len(written)} file(s) as {fmt} into {out}", highlight=False)


@secrets_app.command("rotate")
def rotate_cmd(
    env: EnvOpt,
    name: Annotated[str | None, typer.Argument(help="One secret (default: every due one)")] = None,
    database_url: DatabaseOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only")] = False,
    file: FileOpt = None,
    store: StoreOpt = None,
    key_file: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Give the named secret, or every due one, a new version (the previous kept)."""
    from mmstack.ops import secrets_rotation as rotation

    with _opened(env, _where(file, store, key_file), write=not dry_run) as (stack, opened):
        changes = rotation.rotate(
            opened, stack, env, name, database_url=database_url, dry_run=dry_run
        )
    if json_out:
        print_json([dataclasses.asdict(c) for c in changes])
    elif not changes:
        console.print(f"{env}: no secret is due for rotation", highlight=False)
    for change in [] if json_out else changes:
        _print_change(change, "rotated" if change.done else "would rotate")


@secrets_app.command("rollback")
def rollback_cmd(
    env: EnvOpt,
    name: Annotated[str, typer.Argument(help="The secret")],
    database_url: DatabaseOpt = None,
    file: FileOpt = None,
    store: StoreOpt = None,
    key_file: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make the version current before the last change current again (reversible)."""
    from mmstack.ops import secrets_rotation as rotation

    with _opened(env, _where(file, store, key_file), write=True) as (stack, opened):
        change = rotation.rollback(opened, stack, env, name, database_url=database_url)
    if json_out:
        print_json(dataclasses.asdict(change))
    else:
        _print_change(change, "rolled back")


def _print_change(change: Change, verb: str) -> None:
    kept = f", version {change.previous} kept" if change.previous is not None else ""
    console.print(
        f"{verb} [bold]{change.secret}[/bold]: version {change.version} current{kept}",
        highlight=False,
    )
    for number, step in enumerate(change.steps, start=1):
        console.print(f"  {number}. {step}", highlight=False, soft_wrap=True)


@secrets_app.command("status")
def status_cmd(
    env: EnvOpt,
    file: FileOpt = None,
    store: StoreOpt = None,
    key_file: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Each secret's versions and age against its rotation policy."""
    from mmstack.ops import secrets_rotation as rotation

    with _opened(env, _where(file, store, key_file)) as (stack, opened):
        rows = rotation.secrets_status(opened, stack, env)
    if json_out:
        print_json([dataclasses.asdict(r) for r in rows])
        return
    print_table(
        f"secrets of {env}",
        ["name", "kind", "versions", "current", "age (days)", "rotate (days)", "due"],
        [
            (
                r.name,
                r.kind,
                r.versions,
                r.current,
                r.age_days,
                r.rotate_days,
                "missing" if r.current is None else ("yes" if r.due else "no"),
            )
            for r in rows
        ],
    )


@secrets_app.command("show")
def show(
    env: EnvOpt,
    name: Annotated[str, typer.Argument(help="The secret")],
    reveal: Annotated[bool, typer.Option("--reveal", help="Print the value")] = False,
    file: FileOpt = None,
    store: StoreOpt = None,
    key_file: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A secret's versions; its current value only with --reveal."""
    with _opened(env, _where(file, store, key_file)) as (_, opened):
        entry = opened.entry(env, name)
    value = entry.current_version().value
    info: dict[str, Any] = {
        "name": name,
        "env": env,
        "current": entry.current,
        "previous": entry.previous,
        "versions": [{"number": v.number, "created_at": v.created_at} for v in entry.versions],
    }
    if json_out:
        print_json({**info, "value": value} if reveal else info)
    elif reveal:
        print(value)  # alone on stdout: `$(mmstack secrets show ... --reveal)`
    else:
        print_table(
            f"{name} ({env})",
            ["version", "created", "current"],
            [
                (v.number, v.created_at.isoformat(timespec="seconds"), v.number == entry.current)
                for v in entry.versions
            ],
        )
        console.print("value hidden: add --reveal to print it", highlight=False)
