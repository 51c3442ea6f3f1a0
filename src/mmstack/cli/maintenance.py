"""Commands that look after an installation's data: `mmstack migrate` (the schema),
`mmstack reconcile` (the vector index and blobs against the database) and `mmstack wipe`
(delete data by kind, after listing what goes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmstack.cli.backup import YesOpt, confirm_deletion
from mmstack.cli.deploy import StackFileOpt
from mmstack.cli.options import JsonOpt, cli_settings, opened_stack
from mmstack.cli.output import console, fail, print_json
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.ops.wipe import WipeItem


def migrate() -> None:
    """Bring the database's schema up to this version (servers and workers also do it at
    start; a deployment runs this once before new pods start)."""
    from mmstack.store import migrate as migrations
    from mmstack.store.db import Database

    settings = cli_settings()
    db = Database(settings.sqlalchemy_url)
    try:
        before = migrations.current_revision(db.engine)
        migrations.upgrade(db.engine)
        after = migrations.current_revision(db.engine)
    finally:
        db.dispose()
    if before == after:
        console.print(f"the database is at revision {after}: nothing to do")
    else:
        console.print(f"migrated the database from revision {before or 'none'} to {after}")


def reconcile(json_out: JsonOpt = False) -> None:
    """Repair differences between the database and the vector index and stored blobs."""
    with opened_stack() as stack:
        report = stack.reconciler.run()
    if json_out:
        print_json(report.as_dict())
    else:
        console.print(
            f"vectors {report.vectors}, chunks {report.chunks}: removed "
            f"{report.removed_orphans} orphan vectors, re-embedded {report.re_embedded} chunks, "
            f"removed {report.removed_blobs} unreferenced blobs"
        )


def wipe(
    targets: Annotated[
        list[str],
        typer.Argument(help="What to delete: db, cache, index, blobs, logs, models, or all"),
    ],
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="A compose deployment of the stack file (its volumes) instead of this "
            "installation's data directory and databases",
        ),
    ] = None,
    file: StackFileOpt = None,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete this installation's data (never its secrets or backups), after listing
    exactly what goes and asking (unless --yes)."""
    from mmstack.ops.wipe import run_wipe

    try:
        if env is not None:
            items = _plan_deployment_wipe(targets, env, file)
            confirm_deletion([f"{i.target}: {i.description}" for i in items], yes)
            run_wipe(items)
        else:
            items = _wipe_installation(targets, yes)
    except MMStackError as exc:
        fail(exc.message)
    if json_out:
        print_json(
            [{"target": i.target, "deleted": i.description, "bytes": i.size_bytes} for i in items]
        )
    elif not items:
        console.print("nothing to delete")
    else:
        console.print(f"deleted {len(items)} item(s)")


def _plan_deployment_wipe(targets: list[str], env: str, file: Path | None) -> list[WipeItem]:
    from mmstack.ops.stack_file import load_stack_file, locate_stack_file
    from mmstack.ops.volumes import DockerVolumes, plan_volume_wipe

    stack = load_stack_file(locate_stack_file(file))
    return plan_volume_wipe(stack, env, targets, DockerVolumes())


def _wipe_installation(targets: list[str], yes: bool) -> list[WipeItem]:
    from mmstack.ops.wipe import plan_wipe, run_wipe
    from mmstack.stack.locks import lock_data_dir
    from mmstack.store.db import Database

    settings = cli_settings()
    lock = lock_data_dir(settings.data_dir) if settings.data_dir.exists() else None
    db = Database(settings.sqlalchemy_url)
    try:
        items = plan_wipe(settings, targets, db)
        confirm_deletion([f"{i.target}: {i.description}" for i in items], yes)
        db.dispose()
        run_wipe(items)
        return items
    finally:
        db.dispose()
        if lock is not None:
            lock.release()
