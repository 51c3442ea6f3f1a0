"""`mmstack collections`: create, list, show and delete collections, and move one between
installations (export, import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmstack.cli.options import JsonOpt, opened_stack
from mmstack.cli.output import console, fail, print_json, print_table
from mmstack.errors import ConflictError, MMStackError

if TYPE_CHECKING:
    from mmstack.knowledge.collection_archive import CollectionArchives
    from mmstack.knowledge.collections import CollectionInfo
    from mmstack.stack import Stack
    from mmstack.store.models import CollectionFile

collections_app = typer.Typer(
    help="Create, list, show and delete collections; export and import them.",
    no_args_is_help=True,
)


@collections_app.command("create")
def collections_create(
    name: str,
    description: Annotated[str | None, typer.Option(help="What the collection holds")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a collection."""
    with opened_stack() as stack:
        try:
            info = stack.collections.create(name, description=description)
        except MMStackError as exc:
            fail(exc.message)
    if json_out:
        print_json(_collection_dict(info))
    else:
        console.print(f"created collection [bold]{name}[/bold] ({info.id})")


@collections_app.command("list")
def collections_list(json_out: JsonOpt = False) -> None:
    """List collections with their file and chunk counts."""
    with opened_stack() as stack:
        infos = stack.collections.list_all()
    if json_out:
        print_json([_collection_dict(i) for i in infos])
        return
    print_table(
        "collections",
        ["id", "name", "files", "completed", "failed", "chunks"],
        [
            (
                i.collection.id,
                i.collection.name,
                i.file_counts.total,
                i.file_counts.completed,
                i.file_counts.failed_or_cancelled,
                i.chunk_count,
            )
            for i in infos
        ],
    )


@collections_app.command("show")
def collections_show(collection: str, json_out: JsonOpt = False) -> None:
    """Show a collection (by id or name) and its files."""
    with opened_stack() as stack:
        try:
            info = stack.collections.get(collection)
        except MMStackError as exc:
            fail(exc.message)
        files = stack.collections.files(info.collection.id)
    if json_out:
        print_json({**_collection_dict(info), "files": [_file_dict(f) for f in files]})
        return
    print_table(
        f"{info.collection.name} ({info.collection.id})",
        ["file id", "filename", "status", "chunks", "error"],
        [(f.file_id, f.file.filename, f.status, f.chunk_count, f.last_error) for f in files],
    )


@collections_app.command("delete")
def collections_delete(
    collection: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete a collection with its chunks, vectors and the files only it used."""
    if not yes:
        typer.confirm(f"delete collection {collection!r} and everything in it?", abort=True)
    with opened_stack() as stack:
        try:
            deleted = stack.collections.delete(collection)
        except MMStackError as exc:
            fail(exc.message)
    console.print(f"deleted collection {deleted}")


@collections_app.command("export")
def collections_export(
    collection: str,
    out: Annotated[Path, typer.Argument(help="The archive to write: .tar, .tar.gz or .tgz")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a collection (files, chunks, vectors, attributes) to one archive file."""
    with opened_stack() as stack:
        try:
            report = _archives(stack).export_collection(collection, out, overwrite=force)
        except MMStackError as exc:
            fail(exc.message)
    if json_out:
        print_json({**report.as_dict(), "archive": str(out)})
    else:
        console.print(
            f"exported collection [bold]{report.name}[/bold] ({report.collection_id}) to "
            f"{out}: {report.files} files, {report.chunks} chunks, {report.blobs} blobs"
        )


@collections_app.command("import")
def collections_import(
    archive: Annotated[Path, typer.Argument(help="An archive made by `collections export`")],
    name: Annotated[str | None, typer.Option(help="Name it this, not as in the archive")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Make a new collection from an archive made by `mmstack collections export`."""
    with opened_stack() as stack:
        try:
            report = _archives(stack).import_collection(
                archive, name=name, work_dir=stack.settings.data_dir
            )
        except ConflictError as exc:
            fail(f"{exc.message}; import it under another name with --name")
        except MMStackError as exc:
            fail(exc.message)
    if json_out:
        print_json(report.as_dict())
    else:
        requeued = f", {report.requeued} queued for ingestion" if report.requeued else ""
        console.print(
            f"imported collection [bold]{report.name}[/bold] ({report.collection_id}): "
            f"{report.files} files, {report.chunks} chunks{requeued}"
        )


def _archives(stack: Stack) -> CollectionArchives:
    from mmstack.knowledge.collection_archive import CollectionArchives

    return CollectionArchives(
        stack.db,
        stack.blobs,
        stack.vectors,
        stack.embedder,
        stack.collections,
        stack.queue,
        pictures=stack.pictures,
        on_enqueue=stack.intake.notify,
    )


def _collection_dict(info: CollectionInfo) -> dict[str, Any]:
    c, counts = info.collection, info.file_counts
    return {
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "created_at": c.created_at,
        "file_counts": {  # as the native API counts them
            "queued": counts.queued,
            "in_progress": counts.in_progress,
            "completed": counts.completed,
            "failed": counts.failed_or_cancelled,
            "total": counts.total,
        },
        "chunk_count": info.chunk_count,
    }


def _file_dict(m: CollectionFile) -> dict[str, Any]:
    return {
        "id": m.file_id,
        "filename": m.file.filename,
        "media_type": m.file.media_type,
        "status": m.status,
        "last_error": m.last_error,
        "chunk_count": m.chunk_count,
        "tags": m.tags,
    }
