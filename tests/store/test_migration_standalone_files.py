"""Migration 0002 on a database holding data: SQLite rebuilds `collection_files`, which
chunks, tags and jobs reference; nothing of theirs may go with the old table."""

from __future__ import annotations

from sqlalchemy import text

from mmstack.store import migrate
from mmstack.store.db import Database

ROWS = [
    "INSERT INTO collections (id, name, metadata, created_at) VALUES ('vs_1', 'c', '{}', 1)",
    "INSERT INTO files (id, filename, media_type, size_bytes, sha256, created_at) "
    "VALUES ('file-1', 'a.txt', 'text/plain', 3, 'ab', 1), "
    "('file-2', 'b.exe', 'application/octet-stream', 2, 'cd', 1)",
    "INSERT INTO collection_files (id, collection_id, file_id, sha256, status, last_error, "
    "progress, chunk_count, tags, created_at, updated_at) VALUES "
    "(1, 'vs_1', 'file-1', 'ab', 'completed', NULL, 1, 1, '[\"t\"]', 1, 1), "
    "(2, 'vs_1', 'file-2', 'cd', 'failed', 'unsupported file type ''.exe''', 0, 0, '[]', 1, 1)",
    "INSERT INTO file_tags (collection_file_id, tag) VALUES (1, 't')",
    "INSERT INTO chunks (collection_file_id, collection_id, file_id, seq, text, token_count, "
    "heading_path, char_start, char_end) "
    "VALUES (1, 'vs_1', 'file-1', 0, 'kingfishers dive', 2, '[]', 0, 16)",
]


def test_upgrade_keeps_chunks_and_classifies_old_failures(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate.upgrade(db.engine, "0001")
        with db.engine.begin() as conn:
            for statement in ROWS:
                conn.execute(text(statement))
        migrate.upgrade(db.engine)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM chunks")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM file_tags")).scalar() == 1
            members = conn.execute(
                text("SELECT id, sha256, error_code FROM collection_files ORDER BY id")
            ).all()
            assert [tuple(m) for m in members] == [(1, "ab", None), (2, "cd", "unsupported_file")]
            files = conn.execute(text("SELECT purpose, standalone FROM files")).all()
            assert {(p, bool(s)) for p, s in files} == {("assistants", False)}
            if db.dialect == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                match = "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'kingfishers'"
                assert conn.execute(text(match)).all() == [(1,)]
        migrate.downgrade(db.engine, "0001")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM chunks")).scalar() == 1
    finally:
        db.dispose()
