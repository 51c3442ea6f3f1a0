"""Schema migrations (Alembic), applied at start-up and by `mmstack db upgrade`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Engine, inspect, text

from mmstack.store.db import Database, is_sqlite
from mmstack.store.private import private_data_dir

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision, from the files' names ("0007_stored_responses.py": each file's
# revision is its number; a test checks this is Alembic's head). A database already there
# is not handed to Alembic at all, which a command's start saves.
HEAD: Final = max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))


def known_revisions() -> set[str]:
    """Every revision this version's migrations know."""
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py")}


# The advisory lock migrations hold on PostgreSQL (any constant the application uses only here).
_LOCK: Final = 0x6D6D_7374_6163_6B00 >> 1


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: a new database)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(found) if found is not None else None


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction for the migrations to run in.

    SQLite alters a table by rebuilding it, and dropping the old copy of a table that
    others reference would cascade to them while foreign keys are enforced. The pragma
    has no effect inside a transaction, so it is turned off before the transaction begins
    (SQLite's documented procedure) and the keys are checked before it commits.
    """
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if is_sqlite(engine) else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    # Processes starting together on a new database (API servers, workers)
                    # migrate one after another: the others then find it at head.
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
                yield connection
                if raw is not None:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and current_revision(engine) == HEAD:
        return
    from alembic import command

    config = alembic_config(engine)
    with _migration_connection(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def migrated_database(url: str, data_dir: Path) -> Iterator[Database]:
    """The database alone, brought to the current schema, without the data directory's
    lock: what commands that only read or change rows need, also while a server runs."""
    private_data_dir(data_dir)
    db = Database(url)
    try:
        upgrade(db.engine)
        yield db
    finally:
        db.dispose()


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    config = alembic_config(engine)
    with _migration_connection(engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
