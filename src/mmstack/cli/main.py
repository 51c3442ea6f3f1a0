"""The `mmstack` command. Each command is thin over the services the API uses."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmstack import __version__
from mmstack.cli.accounts import keys_app, users_app
from mmstack.cli.agents import agents_app
from mmstack.cli.analytics import stats, usage
from mmstack.cli.ask_command import ask_command
from mmstack.cli.backup import backup_app
from mmstack.cli.collections import collections_app
from mmstack.cli.deploy import deploy_app
from mmstack.cli.doctor import doctor
from mmstack.cli.maintenance import migrate, reconcile, wipe
from mmstack.cli.mcp import mcp
from mmstack.cli.memories import memories_app
from mmstack.cli.models import models_app
from mmstack.cli.options import JsonOpt, cli_settings, opened_stack, options
from mmstack.cli.output import console, fail, print_json, print_table
from mmstack.cli.retention import retention_app
from mmstack.cli.secrets import secrets_app
from mmstack.cli.stack import stack_app
from mmstack.config.logging import configure_logging
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mmstack.config.settings import Settings
    from mmstack.stack import Stack

# Each command imports what it uses when it runs: `mmstack --help` and `--version` answer
# without loading the stack (models, indexes, the database layer).

app = typer.Typer(
    help="mmstack: a self-hosted multimodal LLM stack.", no_args_is_help=True, add_completion=False
)
for group, name in [
    (collections_app, "collections"), (models_app, "models"), (users_app, "users"),
    (keys_app, "keys"), (secrets_app, "secrets"), (stack_app, "stack"),
    (deploy_app, "deploy"), (retention_app, "retention"), (backup_app, "backup"),
    (agents_app, "agents"), (memories_app, "memories"),
]:  # fmt: skip
    app.add_typer(group, name=name)
for command in (migrate, reconcile, wipe, doctor, usage, stats, mcp):
    app.command()(command)
app.command(name="ask")(ask_command)


def _print_version(value: bool) -> None:
    if value:
        console.print(__version__)
        raise typer.Exit()


@app.callback()
def main(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory (default: MMSTACK_DATA_DIR or ~/.local/share/mmstack)"),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    options.data_dir, options.config = data_dir, config


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [8000]")] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Server processes on the port (the scale-out shape only: with the embedded "
            "vector index a data directory is one process's)",
            min=1,
        ),
    ] = 1,
) -> None:
    """Run the server (API and ingestion workers) with embedded defaults."""
    import uvicorn

    from mmstack.api.app import create_app, server_config
    from mmstack.auth.service import open_accounts

    settings = cli_settings(host=host, port=port)
    configure_logging(settings.log_level, settings.log_format)
    url = f"http://{settings.host}:{settings.port}"
    cli = sys.argv[0] if Path(sys.argv[0]).name == "mmstack" else "mmstack"
    try:
        with open_accounts(settings) as auth:
            first = auth.first_admin
    except MMStackError as exc:
        fail(exc.message)
    console.print(
        f"[bold]mmstack {__version__}[/bold] serving on {url}  (data: {settings.data_dir})\n"
        f"  console:    {url}/  (open it in a browser and log in)\n"
        f"  API docs:   {url}/docs\n"
        f"  health:     {url}/healthz",
        highlight=False,
        soft_wrap=True,
    )
    if first is not None:
        shown = (
            f"password: {first.password}  (shown only now; change it after logging in)"
            if first.password
            else f"password: the one from {first.source}"
        )
        console.print(
            f"  first run:  admin account [bold]{first.username}[/bold] created, {shown}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"  log in:     curl -X POST {url}/api/auth/login -H 'content-type: application/json' "
        f'-d \'{{"username": "admin", "password": "..."}}\'\n'
        f"              or make an API key: {cli} keys create --user admin --name laptop\n"
        f"  next:       with KEY set to the key (or the access token):\n"
        f'                curl -X POST {url}/api/collections -H "Authorization: Bearer $KEY" '
        f"-H 'content-type: application/json' -d '{{\"name\": \"notes\"}}'\n"
        f'                curl -H "Authorization: Bearer $KEY" -F files=@report.pdf '
        f"{url}/api/collections/notes/files\n"
        f"              OpenAI clients: base_url={url}/v1, api_key=$KEY",
        highlight=False,
        soft_wrap=True,
    )
    try:
        if workers > 1:
            from mmstack.api.app import serve_processes

            serve_processes(settings, workers, config_file=options.config)
        else:
            uvicorn.Server(server_config(create_app(settings), settings)).run()
    except MMStackError as exc:
        fail(exc.message)


@app.command()
def worker(
    check: Annotated[
        bool, typer.Option("--check", help="Only check the database answers (health check)")
    ] = False,
) -> None:
    """Run ingestion workers only (the scale-out shape: API processes run with
    MMSTACK_INGEST__WORKERS=0 and workers run this), until stopped."""
    settings = cli_settings()
    configure_logging(settings.log_level, settings.log_format)
    if check:
        from sqlalchemy.exc import SQLAlchemyError

        from mmstack.store.db import Database

        # Only a query: a health check must not migrate, nor make the first admin.
        db = Database(settings.sqlalchemy_url)
        try:
            db.ping()
        except SQLAlchemyError as exc:
            fail(f"the database does not answer: {exc.__class__.__name__}")
        finally:
            db.dispose()
        return
    if settings.ingest.workers < 1:
        fail("ingest.workers is 0: a worker process needs at least one worker thread")
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    # The first admin is made where its password can be shown (`mmstack up`), not here.
    stop_metrics = _worker_metrics(settings)
    with opened_stack(settings, make_first_admin=False) as stack:
        from mmstack import telemetry

        stop_telemetry = telemetry.start(settings.telemetry, "worker")
        stack.start_workers()
        console.print(f"mmstack worker: {settings.ingest.workers} thread(s) consuming jobs")
        stopped.wait()
        stack.worker.stop()
        stop_telemetry()
    stop_metrics()


def _worker_metrics(settings: Settings) -> Callable[[], None]:
    """A worker's own /metrics (ingestion, jobs, model calls), when configured."""
    port = settings.metrics.worker_port
    if port is None or not settings.metrics.enabled:
        return lambda: None
    from mmstack import metrics

    token = settings.metrics.token
    try:
        return metrics.serve(settings.host, port, token.get_secret_value() if token else None)
    except (OSError, ValueError) as exc:
        fail(f"cannot serve the worker's metrics on {settings.host}:{port}: {exc}")


def _collect_paths(paths: list[Path]) -> tuple[list[Path], list[str]]:
    files: list[Path] = []
    missing: list[str] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            )
        elif path.is_file():
            files.append(path)
        else:
            missing.append(str(path))
    return files, missing


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursive)")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection id or name")],
    create: Annotated[
        bool, typer.Option(help="Create the collection when it does not exist")
    ] = True,
    tag: Annotated[list[str] | None, typer.Option(help="Tag every file (repeatable)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Ingest files into a collection, showing progress, then a summary.

    Exits non-zero when any file failed; the others are ingested all the same.
    """
    from mmstack.store.models import FileStatus

    files, missing = _collect_paths(paths)
    for name in missing:
        console.print(f"[red]not found:[/red] {name}")
    with opened_stack() as stack:
        try:
            collection_id = stack.collections.resolve_id(collection)
        except MMStackError:
            if not create:
                fail(f"collection '{collection}' not found (use --create to create it)")
            collection_id = stack.collections.create(collection).id
        members: dict[int, Path] = {}
        duplicates: set[int] = set()
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                missing.append(f"{path}: {exc.strerror}")
                continue
            try:
                added = stack.intake.add_file(collection_id, path.name, data, tags=tag or ())
            except MMStackError as exc:
                missing.append(f"{path}: {exc.message}")
                continue
            members[added.collection_file.id] = path
            if not added.created:
                duplicates.add(added.collection_file.id)
        _run_jobs(stack, len(members) - len(duplicates))
        results = {m.id: m for m in stack.collections.files(collection_id) if m.id in members}
    rows = []
    for member_id, path in members.items():
        m = results[member_id]
        note = "duplicate of an existing file" if member_id in duplicates else (m.last_error or "")
        rows.append((str(path), m.file_id, m.status, m.chunk_count, note))
    failed = [r for r in rows if r[2] != FileStatus.COMPLETED] + [
        (name, "", "failed", 0, "could not read") for name in missing
    ]
    if json_out:
        keys = ("path", "file_id", "status", "chunks", "note")
        print_json(
            {
                "collection_id": collection_id,
                "files": [
                    dict(zip(keys, r, strict=True))
                    for r in rows + [f for f in failed if f[1] == ""]
                ],
            }
        )
    else:
        print_table("ingestion summary", ["path", "file id", "status", "chunks", "note"], rows)
        done = sum(1 for r in rows if r[2] == FileStatus.COMPLETED)
        console.print(f"{done} completed, {len(failed)} failed, {len(duplicates)} duplicates")
    if failed:
        for row in failed:
            console.print(f"[red]failed:[/red] {row[0]}: {row[4]}", highlight=False)
        raise typer.Exit(1)


def _run_jobs(stack: Stack, total: int) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=total == 0,
    ) as progress:
        task = progress.add_task("files", total=total)
        while done := stack.worker.run_batch():
            progress.advance(task, done)
        progress.update(task, completed=total)


@app.command()
def search(
    query: str,
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Limit to collections")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="hybrid, keyword or vector")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 10,
    tag: Annotated[list[str] | None, typer.Option(help="Only files with any of these tags")] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only files of these kinds: text, image, audio, video"),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Search the ingested files."""
    from mmstack.answer.types import clock
    from mmstack.index.filters import SearchFilter, media_type_filter
    from mmstack.media_types import Modality

    if mode not in (None, "hybrid", "keyword", "vector"):
        fail(f"unknown mode {mode!r}: use hybrid, keyword or vector")
    kinds = [m.value for m in Modality]
    if unknown := [k for k in kind or () if k not in kinds]:
        fail(f"unknown kind {unknown[0]!r}: use {', '.join(kinds)}")
    with opened_stack() as stack:
        try:
            ids = [stack.collections.resolve_id(c) for c in collection] if collection else None
            started = time.perf_counter()
            hits = stack.search.search(
                query,
                mode=mode,  # type: ignore[arg-type]
                top_k=top_k,
                flt=SearchFilter(
                    collection_ids=ids,
                    tags=tag,
                    media_types=media_type_filter(None, [Modality(k) for k in kind])
                    if kind
                    else None,
                ),
            )
            elapsed = (time.perf_counter() - started) * 1000
        except MMStackError as exc:
            fail(exc.message)
    if json_out:
        print_json([{**dataclasses.asdict(h), "modality": h.modality} for h in hits])
        return
    for rank, hit in enumerate(hits, start=1):
        anchor = hit.anchor
        where = f"page {anchor.page_start}" if anchor.page_start else ""
        if hit.moment:
            where = f"at {clock(hit.moment[0])}"
        if anchor.heading_path:
            where = (where + " · " if where else "") + " > ".join(anchor.heading_path)
        console.print(
            f"[bold]{rank}. {hit.filename}[/bold] {where}  [dim]score {hit.score:.4f}[/dim]",
            highlight=False,
        )
        snippet = " ".join(hit.text.split())
        console.print(f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}", highlight=False)
    console.print(f"[dim]{len(hits)} results in {elapsed:.1f} ms[/dim]")
