"""`mmstack wipe`: delete this installation's data, by kind, after listing exactly what
goes. Only what mmstack made is touched: its files under the data directory, its tables
(not the PostgreSQL schema or database, which may hold others'), its vector collections,
its keys under the bucket prefix. Secrets and backups are never wiped."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import inspect, text

from mmstack.config.settings import Settings
from mmstack.errors import InvalidRequestError
from mmstack.store.db import Database, is_sqlite
from mmstack.store.models import Base

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

TARGETS: Final = ("db", "cache", "index", "blobs", "logs", "models")
# Folders of the data directory holding what can be made again.
CACHE_DIRS: Final = ("blob-cache", "backup-cache", "backup-staging")
INDEX_DIRS: Final = ("vectors", "vectors-images")
# The trigger functions of mmstack's tables (PostgreSQL), dropped with them.
_TRIGGER_FUNCTIONS: Final = """
SELECT DISTINCT p.proname FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE n.nspname = current_schema() AND c.relname = ANY(:tables) AND NOT t.tgisinternal
"""
SCHEMA_TABLE: Final = "alembic_version"


@dataclass
class WipeItem:
    target: str
    description: str
    size_bytes: int | None = None
    run: Callable[[], None] = field(default=lambda: None, repr=False)


def expand(targets: Sequence[str]) -> list[str]:
    """`all` is every target; an unknown one is an error naming the known ones."""
    chosen = list(TARGETS) if "all" in targets else list(dict.fromkeys(targets))
    if unknown := [t for t in chosen if t not in TARGETS]:
        raise InvalidRequestError(
            f"nothing to wipe called '{unknown[0]}'; one of {', '.join(TARGETS)} or all"
        )
    return chosen


def plan_wipe(settings: Settings, targets: Sequence[str], db: Database | None) -> list[WipeItem]:
    """Exactly what wiping `targets` deletes, each item with the step that deletes it."""
    items: list[WipeItem] = []
    data = settings.data_dir
    for target in expand(targets):
        if target == "db":
            items += _database_items(settings, db)
        elif target == "cache":
            items += _folders(target, [data / name for name in CACHE_DIRS])
        elif target == "index":
            items += _index_items(settings)
        elif target == "blobs":
            items += _blob_items(settings)
        elif target == "models":
            items += _folders(target, [settings.models_cache_dir])
        # logs: mmstack writes its log to standard output; the collector keeps it.
    return items


def _folders(target: str, folders: Sequence[Path]) -> list[WipeItem]:
    return [
        WipeItem(target, str(folder), _size(folder), partial(shutil.rmtree, folder))
        for folder in folders
        if folder.exists()
    ]


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _database_items(settings: Settings, db: Database | None) -> list[WipeItem]:
    if db is None or is_sqlite(db.engine):
        database = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
        files = [Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm")]
        return [
            WipeItem("db", str(f), f.stat().st_size, partial(f.unlink, missing_ok=True))
            for f in files
            if f.exists()
        ]
    engine = db.engine
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        present = set(inspect(connection).get_table_names())
        ours = [t.name for t in reversed(Base.metadata.sorted_tables)] + [SCHEMA_TABLE]
        tables = [name for name in ours if name in present]
        found = connection.execute(text(_TRIGGER_FUNCTIONS), {"tables": tables}).scalars()
        functions = sorted(found)
    if not tables:
        return []

    def drop() -> None:
        with engine.begin() as connection:
            for name in tables:
                connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
            for function in functions:
                connection.execute(text(f'DROP FUNCTION IF EXISTS "{function}"() CASCADE'))

    return [
        WipeItem("db", f"{len(tables)} tables of schema {schema}: {', '.join(tables)}", None, drop)
    ]


def _index_items(settings: Settings) -> list[WipeItem]:
    if settings.vector.backend == "edge":
        return _folders("index", [settings.data_dir / name for name in INDEX_DIRS])
    from mmstack.index.vector_qdrant import server_client

    client = server_client(settings.vector)
    base = settings.vector.qdrant_collection
    names = [n for n in (base, f"{base}_images") if client.collection_exists(n)]
    return [
        WipeItem(
            "index",
            f"Qdrant collection {name} at {settings.vector.qdrant_url}",
            None,
            partial(_drop_collection, client, name),
        )
        for name in names
    ]


def _drop_collection(client: QdrantClient, name: str) -> None:
    client.delete_collection(name)


def _blob_items(settings: Settings) -> list[WipeItem]:
    if settings.blobs.backend == "local":
        return _folders("blobs", [settings.data_dir / "blobs"])
    from mmstack.store.blobs_s3 import S3BlobStore

    store = S3BlobStore.from_settings(settings.blobs, settings.data_dir / "blob-cache")
    digests = sorted(store.digests())
    if not digests:
        return []

    def delete() -> None:
        for digest in digests:
            store.delete(digest)

    where = f"s3://{settings.blobs.bucket}/{settings.blobs.prefix}"
    return [WipeItem("blobs", f"{len(digests)} blobs under {where}", None, delete)]


def run_wipe(items: Sequence[WipeItem]) -> None:
    for item in items:
        item.run()
