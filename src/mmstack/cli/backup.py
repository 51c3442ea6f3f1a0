"""`mmstack backup`: create, list, verify, restore and rotate backups (a restic repository)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from mmstack.cli.options import JsonOpt, cli_settings, opened_stack
from mmstack.cli.output import console, err_console, fail, print_json, print_table
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.config.settings import Settings
    from mmstack.ops.backup import BackupInfo, BackupService, CreatedBackup

backup_app = typer.Typer(
    help="Back up this installation (database, vector index, blobs) and restore it.",
    no_args_is_help=True,
)

OnlyOpt = Annotated[
    list[str] | None,
    typer.Option("--only", help="A part to back up: db, index or blobs (repeatable; default all)"),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]


def _service(settings: Settings) -> BackupService:
    from mmstack.ops.backup.configured import backup_service

    try:
        return backup_service(settings)
    except MMStackError as exc:
        fail(exc.message)


@backup_app.command("create")
def backup_create(
    only: OnlyOpt = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for a running server's worker to take it")
    ] = 3600.0,
    json_out: JsonOpt = False,
) -> None:
    """Take a consistent backup of the current state, written to the repository. While a
    server holds the data directory, its job worker takes the backup (this waits for it)."""
    from mmstack.ops.backup import PARTS

    settings = cli_settings()
    service = _service(settings)
    started = time.perf_counter()
    if _held_by_a_server(settings):
        if only:
            fail("a running server takes whole backups only: leave out --only")
        _backup_by_server(settings, wait)
        result: dict[str, object] = {"id": service.backups()[-1].id, "by": "server"}
    else:
        with opened_stack(settings) as stack:
            try:
                created = service.create(stack.storage, only or list(PARTS))
            except MMStackError as exc:
                fail(exc.message)
        result = _created_dict(created)
    result["repository"] = service.repository
    result["seconds"] = round(time.perf_counter() - started, 2)
    if json_out:
        print_json(result)
        return
    console.print(
        f"backup [bold]{result['id']}[/bold] in {service.repository}: "
        + ", ".join(f"{k} {v}" for k, v in result.items() if k not in ("id", "repository"))
    )


def _created_dict(created: CreatedBackup) -> dict[str, object]:
    manifest = created.manifest
    return {
        "id": manifest.id,
        "parts": manifest.parts,
        "files": manifest.counts.files,
        "chunks": manifest.counts.chunks,
        "vectors": manifest.vectors,
        "blobs": len(manifest.blobs),
        "blobs_missing": len(manifest.blobs_missing),
        "blob_bytes": manifest.blob_bytes,
        "bytes_added": created.bytes_added,
    }


def _held_by_a_server(settings: Settings) -> bool:
    """Whether another process has the data directory (an embedded server)."""
    from mmstack.stack.locks import DataDirLockedError, lock_data_dir

    if settings.vector.backend != "edge" or not settings.data_dir.exists():
        return False
    try:
        lock_data_dir(settings.data_dir).release()
    except DataDirLockedError:
        return True
    return False


def _backup_by_server(settings: Settings, wait: float) -> None:
    """Ask the server's job worker for a backup and wait for its outcome."""
    from mmstack.ingest.periodic import PeriodicJob
    from mmstack.stack.backups import BACKUP_JOB
    from mmstack.store.db import Database
    from mmstack.store.jobs import JobQueue

    db = Database(settings.sqlalchemy_url)
    try:
        queue = JobQueue(db)
        asked = PeriodicJob(BACKUP_JOB, queue, lambda _: None, interval_hours=0).request()
        err_console.print("a server holds the data directory: its job worker takes the backup")
        deadline = time.monotonic() + wait
        while (job := queue.finished_since(BACKUP_JOB, asked)) is None:
            if time.monotonic() > deadline:
                fail(f"no backup within {wait:.0f} s: is the server's job worker running?")
            time.sleep(1.0)
    finally:
        db.dispose()
    if job.status != "succeeded":
        fail(f"the server's backup failed: {job.last_error}")


@backup_app.command("list")
def backup_list(json_out: JsonOpt = False) -> None:
    """The backups in the repository, oldest first."""
    service = _service(cli_settings())
    try:
        backups = service.backups()
    except MMStackError as exc:
        fail(exc.message)
    if json_out:
        print_json([_backup_dict(b) for b in backups])
        return
    print_table(
        f"backups in {service.repository}",
        ["id", "taken (UTC)", "parts", "complete"],
        [
            (b.id, _when(b.created_at), ",".join(b.parts), "yes" if b.complete else "no")
            for b in backups
        ],
    )


@backup_app.command("verify")
def backup_verify(
    backup_id: Annotated[str, typer.Argument(help="A backup id, or latest")] = "latest",
    json_out: JsonOpt = False,
) -> None:
    """Read the backup back into a temporary folder and check every part against its
    manifest; exits non-zero naming each damaged part."""
    service = _service(cli_settings())
    try:
        report = service.verify(backup_id)
    except MMStackError as exc:
        fail(exc.message)
    if json_out:
        print_json({"id": report.backup_id, "ok": report.ok, "problems": report.problems})
    elif report.ok:
        console.print(f"backup {report.backup_id} is whole")
    if not report.ok:
        problems = "; ".join(f"{part}: {why}" for part, why in report.problems.items())
        fail(f"backup {report.backup_id} is damaged in part(s) {problems}")


@backup_app.command("restore")
def backup_restore(
    backup_id: Annotated[str, typer.Argument(help="A backup id, or latest")] = "latest",
    replace: Annotated[
        bool, typer.Option(help="Replace this installation's data (its database is wiped)")
    ] = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Put a backup's state in place of this installation's, migrated to this version."""
    from mmstack.ops.wipe import plan_wipe, run_wipe
    from mmstack.stack.backups import open_storage
    from mmstack.store import migrate

    settings = cli_settings()
    service = _service(settings)
    try:
        with open_storage(settings) as storage:
            revision = migrate.current_revision(storage.db.engine)
            if revision is not None:
                if not replace:
                    fail(
                        f"this installation holds data (its database is at schema {revision}): "
                        "wipe it first (mmstack wipe all) or pass --replace"
                    )
                doomed = plan_wipe(settings, ["db"], storage.db)
                confirm_deletion([item.description for item in doomed], yes)
                run_wipe(doomed)
            report = service.restore(backup_id, storage, data_dir=settings.data_dir)
        with opened_stack(settings) as stack:  # opening migrates and reconciles
            repaired = stack.reconciler.run()
    except MMStackError as exc:
        fail(exc.message)
    result = {
        "id": report.manifest.id,
        "schema_from": report.schema_from,
        "schema_to": report.schema_to,
        "files": report.manifest.counts.files,
        "chunks": report.manifest.counts.chunks,
        "vectors": report.vectors,
        "re_embedded": repaired.re_embedded,
        "blobs_stored": report.blobs_stored,
    }
    if json_out:
        print_json(result)
        return
    console.print(
        f"restored backup [bold]{report.manifest.id}[/bold]: {result['files']} files, "
        f"{result['chunks']} chunks, {report.vectors} vectors, {report.blobs_stored} blobs "
        f"stored; schema {report.schema_from} -> {report.schema_to}"
    )


@backup_app.command("forget")
def backup_forget(
    dry_run: Annotated[bool, typer.Option(help="Only list what rotation would forget")] = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Rotate: forget the backups the keep policy (backup.keep_*) does not keep."""
    service = _service(cli_settings())
    try:
        doomed = service.rotate(dry_run=True)
        if not dry_run and doomed:
            confirm_deletion([f"backup {b.id} ({_when(b.created_at)})" for b in doomed], yes)
            service.rotate()
    except MMStackError as exc:
        fail(exc.message)
    if json_out:
        print_json({"dry_run": dry_run, "forgotten": [_backup_dict(b) for b in doomed]})
        return
    verb = "would forget" if dry_run else "forgot"
    console.print(f"{verb} {len(doomed)} backup(s)")
    for backup in doomed:
        console.print(f"  {backup.id} ({_when(backup.created_at)})")


def confirm_deletion(lines: list[str], yes: bool) -> None:
    """List what goes and ask, on standard error (standard output stays the result)."""
    if not lines:
        return
    err_console.print("this deletes:")
    for line in lines:
        err_console.print(f"  {line}", highlight=False)
    if not yes and not typer.confirm("go on?", default=False, err=True):
        fail("nothing deleted")


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))


def _backup_dict(backup: BackupInfo) -> dict[str, object]:
    return {
        "id": backup.id,
        "created_at": backup.created_at,
        "parts": list(backup.parts),
        "complete": backup.complete,
    }
