"""standalone files, attributes, error codes and file batches (the OpenAI surface)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=32), nullable=False, server_default="assistants")
        )
        batch_op.add_column(
            sa.Column("standalone", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    # On SQLite this rebuilds the table (`mmstack.store.migrate` turns foreign keys off
    # around migrations, so dropping the old table does not cascade to chunks).
    with op.batch_alter_table("collection_files", schema=None) as batch_op:
        batch_op.alter_column("sha256", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("error_code", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("attributes", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    # Failures recorded before error codes existed, classified by the reasons this code
    # wrote for them.
    op.execute(
        "UPDATE collection_files SET error_code = CASE "
        "WHEN last_error LIKE 'internal error%' THEN 'server_error' "
        "WHEN last_error LIKE 'unsupported file type%' THEN 'unsupported_file' "
        "ELSE 'invalid_file' END WHERE status = 'failed'"
    )

    op.create_table(
        "file_batches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("collection_id", sa.String(length=64), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("file_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_file_batches_collection_id"), ["collection_id"], unique=False
        )

    op.create_table(
        "file_batch_files",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("collection_file_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["file_batches.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["collection_file_id"], ["collection_files.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("batch_id", "collection_file_id"),
    )
    with op.batch_alter_table("file_batch_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_file_batch_files_collection_file_id"),
            ["collection_file_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("file_batch_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_batch_files_collection_file_id"))
    op.drop_table("file_batch_files")
    with op.batch_alter_table("file_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_batches_collection_id"))
    op.drop_table("file_batches")

    # Before 0002 a collection file always had its bytes' sha256: standalone files
    # attached by id cannot be represented and are dropped from their collections.
    # Children first: foreign keys are not enforced during SQLite migrations.
    attached = "SELECT id FROM collection_files WHERE sha256 IS NULL"
    for child in ("chunks", "file_tags", "jobs"):
        op.execute(f"DELETE FROM {child} WHERE collection_file_id IN ({attached})")
    op.execute("DELETE FROM collection_files WHERE sha256 IS NULL")
    with op.batch_alter_table("collection_files", schema=None) as batch_op:
        batch_op.drop_column("attributes")
        batch_op.drop_column("error_code")
        batch_op.alter_column("sha256", existing_type=sa.String(length=64), nullable=False)

    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("standalone")
        batch_op.drop_column("purpose")
