"""Commands that look after an installation's data: `mmstack migrate` (the schema),
`mmstack reconcile` (the vector index and blobs against the database) and `mmstack wipe`
(delete data by kind, after listing what goes)."""

from __future__ import annotations

from typing import Annotated

import typer

from mmstack.cli.backup import YesOpt, confirm_deletion
from mmstack.cli.options import JsonOpt, cli_settings, opened_stack
from mmstack.cli.output import console, fail, print_json
from mmstack.errors import MMStackError


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
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete this installation's data (never its secrets or backups), after listing
    exactly what goes and asking (unless --yes)."""
    from mmstack.ops.wipe import plan_wipe, run_wipe
    from mmstack.stack.locks import lock_data_dir
    from mmstack.store.db import Database

    settings = cli_settings()
    try:
        lock = lock_data_dir(settings.data_dir) if settings.data_dir.exists() else None
        db = Database(settings.sqlalchemy_url)
        try:
            items = plan_wipe(settings, targets, db)
            confirm_deletion([f"{i.target}: {i.description}" for i in items], yes)
            db.dispose()
            run_wipe(items)
        finally:
            db.dispose()
            if lock is not None:
                lock.release()
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
