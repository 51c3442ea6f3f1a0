"""`mmstack wipe`: exactly what it lists goes, only mmstack's own data, never secrets or
backups; on PostgreSQL only mmstack's tables and their trigger functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from mmstack.config.settings import Settings
from mmstack.errors import InvalidRequestError
from mmstack.ops.stack_file import PACKAGED_STACK, load_stack_file
from mmstack.ops.volumes import DockerVolume, plan_volume_wipe
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


class EngineVolumes:
    """The Docker engine's answers for one host, as `DockerVolumes` reads them (the real
    engine is driven by scripts/deploy_smoke.py, which runs this wipe on a deployment)."""

    def __init__(self, volumes: dict[str, tuple[str, str]], users: dict[str, list[str]]):
        self.volumes = volumes  # name -> (project label, volume label)
        self.in_use = users
        self.removed: list[str] = []

    def of_project(self, project: str) -> list[DockerVolume]:
        return [DockerVolume(n, v) for n, (p, v) in self.volumes.items() if p == project]

    def users(self, name: str) -> list[str]:
        return self.in_use.get(name, [])

    def remove(self, name: str) -> None:
        self.removed.append(name)


def test_deployment_wipe_takes_only_its_own_volumes_by_kind() -> None:
    stack = load_stack_file(PACKAGED_STACK)
    engine = EngineVolumes(
        {
            "mmstack-production_postgres-data": ("mmstack-production", "postgres-data"),
            "mmstack-production_qdrant-data": ("mmstack-production", "qdrant-data"),
            "mmstack-production_backups": ("mmstack-production", "backups"),
            "mmstack-production_grafana-data": ("mmstack-production", "grafana-data"),
            "mmstack-staging_postgres-data": ("mmstack-staging", "postgres-data"),
            "other_postgres-data": ("other", "postgres-data"),
        },
        {},
    )
    items = plan_volume_wipe(stack, "production", ["all"], engine)  # type: ignore[arg-type]
    assert [(i.target, i.description.split()[2]) for i in items] == [
        ("db", "mmstack-production_postgres-data"),
        ("index", "mmstack-production_qdrant-data"),
    ]
    run_wipe(items)
    assert engine.removed == ["mmstack-production_postgres-data", "mmstack-production_qdrant-data"]
    only_db = plan_volume_wipe(stack, "staging", ["db"], engine)  # type: ignore[arg-type]
    assert [i.description.split()[2] for i in only_db] == ["mmstack-staging_postgres-data"]


def test_deployment_wipe_refuses_volumes_in_use() -> None:
    stack = load_stack_file(PACKAGED_STACK)
    engine = EngineVolumes(
        {"mmstack-production_postgres-data": ("mmstack-production", "postgres-data")},
        {"mmstack-production_postgres-data": ["mmstack-production-postgres-1"]},
    )
    with pytest.raises(InvalidRequestError, match="in use by mmstack-production-postgres-1"):
        plan_volume_wipe(stack, "production", ["db"], engine)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="no environment 'nope'"):
        plan_volume_wipe(stack, "nope", ["db"], engine)  # type: ignore[arg-type]
