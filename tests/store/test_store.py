from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from mmstack.store import migrate
from mmstack.store.blobs import LocalBlobStore, sha256_hex
from mmstack.store.db import Database


def test_migrations_upgrade_downgrade_upgrade(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate.upgrade(db.engine)
        tables = set(inspect(db.engine).get_table_names())
        assert {"collections", "files", "collection_files", "chunks", "jobs", "file_tags"} <= tables
        migrate.downgrade(db.engine, "base")
        assert "chunks" not in set(inspect(db.engine).get_table_names())
        migrate.upgrade(db.engine)
        assert "chunks" in set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()


def test_head_is_alembics_and_a_database_at_it_is_left_alone(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    db = Database(db_url)
    try:
        config = migrate.alembic_config(db.engine)
        assert ScriptDirectory.from_config(config).get_current_head() == migrate.HEAD
        assert migrate.current_revision(db.engine) is None
        migrate.upgrade(db.engine)
        assert migrate.current_revision(db.engine) == migrate.HEAD
        handed: list[str] = []
        monkeypatch.setattr(command, "upgrade", lambda config, revision: handed.append(revision))
        migrate.upgrade(db.engine)
        assert handed == []
        migrate.downgrade(db.engine, "0006")
        migrate.upgrade(db.engine)
        assert handed == ["head"]  # behind: Alembic brings it up
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_blob_store_is_content_addressed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    digest = store.put(b"hello")
    assert digest == sha256_hex(b"hello")
    assert store.put(b"hello") == digest
    assert store.get(digest) == b"hello"
    assert (tmp_path / "blobs" / digest[:2] / digest[2:4] / digest).is_file()
    assert not list((tmp_path / "blobs").rglob(".tmp-*"))
    store.delete(digest)
    store.delete(digest)  # absent: ignored
    assert not store.exists(digest)
    with pytest.raises(KeyError):
        store.get(digest)
    with pytest.raises(ValueError, match="not a sha256"):
        store.get("../../etc/passwd")


def test_migrations_build_the_schema_the_models_describe(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mmstack.store.models import Base

    db = Database(db_url)
    try:
        migrate.upgrade(db.engine)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            differences = [
                repr(d)[:160]
                for d in compare_metadata(context, Base.metadata)
                if not _maintained_by_the_database(d)
            ]
        assert differences == []
    finally:
        db.dispose()


def _maintained_by_the_database(difference: object) -> bool:
    """Keyword-index objects the migrations create outside the models: the FTS5 table
    and its shadow tables on SQLite, the `tsv` column and its index on PostgreSQL."""
    if not isinstance(difference, tuple):
        return False
    kind, *rest = difference
    if kind == "remove_table":
        return True
    return kind in ("remove_index", "remove_column") and "tsv" in repr(rest)


@pytest.mark.postgres
def test_processes_starting_together_migrate_a_new_database_once(pg_url: str) -> None:
    """API servers and workers started at once on an empty PostgreSQL database: each
    waits for the one migrating, then finds the schema at head."""
    engines = [Database(pg_url).engine for _ in range(4)]
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            migrate.upgrade(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert errors == []
        assert {migrate.current_revision(engine) for engine in engines} == {migrate.HEAD}
    finally:
        for engine in engines:
            engine.dispose()
