"""Database engine and sessions: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import importlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from sqlalchemy import ClauseElement, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler


def sqlite_driver() -> ModuleType:
    """The SQLite DB-API module: `pysqlite3` (a current SQLite, pinned on Linux x86_64)
    where it is installed, else the standard library's. Python's own module links the
    system library, often years old; on FTS5 queries ranked with bm25() SQLite 3.51 takes
    about two thirds of the time 3.40 does (bench/README.md)."""
    try:
        return importlib.import_module("pysqlite3.dbapi2")
    except ImportError:
        return sqlite3


def create_db_engine(url: str, *, echo: bool = False, immediate: bool = False) -> Engine:
    """An engine for `url`. On SQLite, `immediate=True` makes every transaction take the
    write lock when it begins (for sessions that write), which avoids the SQLITE_BUSY that a
    deferred transaction gets when it upgrades from reading to writing under concurrency."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            module=sqlite_driver(),
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=8,
        )
        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # SQLAlchemy issues BEGIN itself (the "begin" listener) instead of the driver.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class Database:
    """Engines and session factories; owned by the application's lifespan."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = create_db_engine(url, echo=echo)
        self._write_engine = (
            create_db_engine(url, echo=echo, immediate=True) if is_sqlite(self.engine) else None
        )
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(self._write_engine or self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upsert(self, table: Any) -> Any:
        """An INSERT into `table` that can say what to do on a conflict
        (`.on_conflict_do_update`): both dialects have one, spelled in their own module."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with (self._writes if write else self._reads)() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        """Ask the database the simplest question (a health check); raises when it does
        not answer."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._write_engine is not None:
            self._write_engine.dispose()


class PlainQuery:
    """A select compiled once and run on a DB-API connection, for queries that run on
    every request: SQLAlchemy's per-execution work (building, cache key, BEGIN, result
    processing, ROLLBACK) costs several times what these small queries do.

    `runtime` names the parameters given on each run, and `lists` the expanding ones
    (`IN`) given on each run with the number of values they take; every other value is
    fixed when the query is built. Rows come back as the DB-API gives them: JSON columns
    are text on SQLite and decoded by psycopg (`json_value` reads both)."""

    def __init__(
        self,
        engine: Engine,
        stmt: ClauseElement,
        runtime: Sequence[str] = (),
        lists: Mapping[str, int] | None = None,
    ) -> None:
        compiled = cast(SQLCompiler, stmt.compile(dialect=engine.dialect))
        slots: dict[str, Any] = dict.fromkeys(runtime)
        for name, length in (lists or {}).items():
            slots[name] = [_Slot(name, n) for n in range(length)]
        expanded = compiled.construct_expanded_state(slots)
        self._engine = engine
        self.sql = expanded.statement
        self._names = list(expanded.positiontup) if expanded.positiontup is not None else None
        self._fixed = dict(expanded.parameters)
        self._list_slots = {
            key: value for key, value in self._fixed.items() if isinstance(value, _Slot)
        }

    def arguments(self, values: Mapping[str, Any]) -> Any:
        merged = {**self._fixed, **values}
        for key, slot in self._list_slots.items():
            merged[key] = values[slot.name][slot.index]
        if self._names is None:
            return merged
        return tuple(merged[name] for name in self._names)

    def rows(self, values: Mapping[str, Any], session: Session | None = None) -> list[Any]:
        """The rows, on `session`'s connection (in its transaction) or on a pooled one."""
        if session is not None:
            return session_rows(session, self.sql, self.arguments(values))
        connection = self._engine.raw_connection()  # back to the pool (rolled back) on close
        try:
            return _fetch(connection, self.sql, self.arguments(values))
        finally:
            connection.close()


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a value of a list parameter goes, until the query runs."""

    name: str
    index: int


def json_value(value: Any) -> Any:
    """A JSON column as the DB-API gives it: text on SQLite, decoded by psycopg (for
    columns holding lists, objects, numbers or null, never a bare string)."""
    return json.loads(value) if isinstance(value, str) else value


def session_rows(session: Session, sql: str, arguments: Any = ()) -> list[Any]:
    """Rows of `sql` from the DB-API cursor of `session`'s connection, in its transaction
    (plain tuples: many rows cost several times more through a Result)."""
    return _fetch(session.connection().connection, sql, arguments)


def _fetch(connection: Any, sql: str, arguments: Any) -> list[Any]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql, arguments)
        return list(cursor.fetchall())
    finally:
        cursor.close()
