"""`mmstack wipe`: exactly what it lists goes, only mmstack's own data, never secrets or
backups; on PostgreSQL only mmstack's tables and their trigger functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from mmstack.config.settings import Settings
from mmstack.errors import InvalidRequestError
from mmstack.ops.wipe import expand, plan_wipe, run_wipe
from mmstack.stack import open_stack
from mmstack.stack.backups import open_storage
from mmstack.store import migrate
from mmstack.store.db import Database


def test_wipe_all_leaves_secrets_backups_and_other_files(settings: Settings) -> None:
    with open_stack(settings) as stack:
        cid = stack.collections.create("c").collection.id
        stack.intake.add_file(cid, "a.txt", b"some words to index")
        stack.worker.run_until_idle()
    neighbour = settings.data_dir.parent / "not-mmstack.txt"
    neighbour.write_text("someone else's")
    (settings.data_dir / "operator-notes.txt").write_text("kept")
    backups = settings.data_dir.parent / "data-backups"
    backups.mkdir()
    db = Database(settings.sqlalchemy_url)
    try:
        items = plan_wipe(settings, ["all"], db)
        listed = {(i.target, i.description) for i in items}
        run_wipe(items)
        assert plan_wipe(settings, ["all"], db) == []  # everything listed went
        assert migrate.current_revision(db.engine) is None
    finally:
        db.dispose()
    assert {target for target, _ in listed} >= {"db", "index", "blobs"}
    assert neighbour.exists()
    assert backups.exists()
    assert (settings.data_dir / "operator-notes.txt").exists()
    assert (settings.data_dir / "secrets" / "token-signing.key").exists()
    with open_stack(settings) as stack:  # a wiped installation starts as a new one
        assert stack.collections.list_all() == []


@pytest.mark.postgres
def test_postgres_wipe_drops_only_mmstack_objects(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url)
    db = Database(pg_url)
    try:
        migrate.upgrade(db.engine)
        with db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE someone_elses (id int)"))
        run_wipe(plan_wipe(settings, ["db"], db))
        with db.engine.connect() as connection:
            tables = (
                connection.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
                .scalars()
                .all()
            )
            functions = (
                connection.execute(
                    text(
                        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n "
                        "ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
                    )
                )
                .scalars()
                .all()
            )
    finally:
        db.dispose()
    assert tables == ["someone_elses"]
    assert functions == []


def test_unknown_target_is_named() -> None:
    with pytest.raises(InvalidRequestError, match="nothing to wipe called 'everything'"):
        expand(["everything"])
    assert expand(["all"]) == ["db", "cache", "index", "blobs", "logs", "models"]


def test_storage_opens_without_migrating(settings: Settings) -> None:
    with open_storage(settings) as storage:
        assert migrate.current_revision(storage.db.engine) is None
