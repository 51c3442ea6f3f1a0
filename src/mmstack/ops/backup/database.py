"""A consistent copy of the SQL database, and putting one back.

SQLite: the online backup API copies the database page by page while others keep writing;
the copy is one transaction's state. PostgreSQL: `pg_dump` of mmstack's schema, taken in a
snapshot exported by a repeatable-read transaction that stays open, so what the backup
reads besides the dump (which chunks need vectors, which blobs are used) is the same state.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from mmstack.ops.backup.restic import BackupError
from mmstack.store.db import Database, is_sqlite, sqlite_driver

SQLITE_FILE: Final = "mmstack.sqlite3"
PG_DUMP_FILE: Final = "mmstack.pgdump"


@contextmanager
def database_snapshot(db: Database, folder: Path) -> Iterator[tuple[Session, str, str | None]]:
    """Write the database's copy into `folder` and yield a session reading exactly that
    state, the copy's file name, and (PostgreSQL) the schema dumped."""
    folder.mkdir(parents=True, exist_ok=True)
    if is_sqlite(db.engine):
        target = folder / SQLITE_FILE
        target.unlink(missing_ok=True)
        raw = db.engine.raw_connection()
        try:
            copy = sqlite_driver().connect(str(target))
            try:
                raw.driver_connection.backup(copy)  # type: ignore[union-attr]
            finally:
                copy.close()
        finally:
            raw.close()
        engine = create_engine(f"sqlite:///{target}")
        try:
            with Session(engine) as session:
                yield session, SQLITE_FILE, None
        finally:
            engine.dispose()
        return
    with (
        db.engine.connect() as connection,
        connection.execution_options(isolation_level="REPEATABLE READ").begin(),
    ):
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        _pg_tool(
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--snapshot={snapshot}",
            f"--schema={schema}",
            f"--file={folder / PG_DUMP_FILE}",
            f"--dbname={libpq_url(db.engine)}",
        )
        with Session(bind=connection) as session:
            yield session, PG_DUMP_FILE, str(schema)


def load_database(engine: Engine, copy: Path, *, schema: str | None) -> None:
    """Put a copy made by `database_snapshot` in place of the database `engine` points at,
    which must hold no mmstack table (wiped, or new)."""
    if is_sqlite(engine):
        database = make_url(str(engine.url)).database
        if not database:
            raise BackupError("cannot restore into an in-memory SQLite database")
        engine.dispose()
        target = Path(database)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        partial = target.with_name(target.name + ".restoring")
        shutil.copyfile(copy, partial)
        partial.replace(target)
        return
    with engine.connect() as connection:
        current = connection.execute(text("SELECT current_schema()")).scalar_one()
    if schema is not None and current != schema:
        raise BackupError(
            f"the backup holds PostgreSQL schema '{schema}', and this database's schema is "
            f"'{current}': restore into a database whose search_path names '{schema}'"
        )
    listing = _pg_tool("pg_restore", "--list", str(copy))
    # The schema itself exists already (mmstack never creates or drops it).
    wanted = [
        line
        for line in listing.splitlines()
        if not (" SCHEMA - " in line or " COMMENT - SCHEMA " in line)
    ]
    list_file = copy.with_suffix(".list")
    list_file.write_text("\n".join(wanted) + "\n")
    _pg_tool(
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--use-list={list_file}",
        f"--dbname={libpq_url(engine)}",
        str(copy),
    )


def check_database_copy(copy: Path) -> None:
    """Read the whole copy back (a PostgreSQL dump's every table; SQLite's every page)."""
    if copy.name == PG_DUMP_FILE:
        _pg_tool("pg_restore", "--file=/dev/null", str(copy))
        return
    connection = sqlite_driver().connect(f"file:{copy}?mode=ro", uri=True)
    try:
        found = connection.execute("PRAGMA integrity_check").fetchone()
    finally:
        connection.close()
    if not found or found[0] != "ok":
        raise BackupError(f"the database copy fails SQLite's integrity check: {found}")


def libpq_url(engine: Engine) -> str:
    """The engine's URL as libpq's tools take it (no SQLAlchemy driver name)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(program: str, *args: str) -> str:
    try:
        result = subprocess.run(
            [program, *args], capture_output=True, text=True, check=False, timeout=24 * 3600
        )
    except FileNotFoundError:
        raise BackupError(
            f"{program} is not installed (Debian: apt-get install postgresql-client; its "
            "version must be the server's or newer)"
        ) from None
    if result.returncode != 0:
        raise BackupError(f"{program} failed: {result.stderr.strip()[-800:]}")
    return result.stdout
