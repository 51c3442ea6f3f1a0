"""SQLite: a generation number of the keyword index, and its postings readable by SQL

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `index/keyword_postings.py` keeps postings of the FTS5 index in memory, with the file
# each chunk belongs to; the generation, bumped in the same transaction as every change to
# either, tells it when they are out of date. `chunks_fts_instance` lists the index's
# postings (term, chunk, column, offset) a term at a time; `chunks_fts_terms` gives each
# term's number of chunks.
GENERATION_TRIGGERS = {
    "chunks_fts_generation_insert": "AFTER INSERT ON chunks",
    "chunks_fts_generation_delete": "AFTER DELETE ON chunks",
    "chunks_fts_generation_update": "AFTER UPDATE OF text, collection_file_id ON chunks",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL ranks in the database (index/keyword_postgres.py)
    op.execute(
        "CREATE TABLE keyword_index_state ("
        "id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL)"
    )
    op.execute("INSERT INTO keyword_index_state (id, generation) VALUES (1, 0)")
    for name, event in GENERATION_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {event} BEGIN "
            "UPDATE keyword_index_state SET generation = generation + 1 WHERE id = 1; END"
        )
    op.execute("CREATE VIRTUAL TABLE chunks_fts_instance USING fts5vocab(chunks_fts, instance)")
    op.execute("CREATE VIRTUAL TABLE chunks_fts_terms USING fts5vocab(chunks_fts, row)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE IF EXISTS chunks_fts_terms")
    op.execute("DROP TABLE IF EXISTS chunks_fts_instance")
    for name in GENERATION_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS keyword_index_state")
