"""media anchors on chunks, media details and derived images of files

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_info", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("thumbnail", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("perceptual_hash", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_files_perceptual_hash"), ["perceptual_hash"], unique=False
        )

    op.create_table(
        "file_assets",
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("file_id", "key"),
    )
    with op.batch_alter_table("file_assets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_assets_key"), ["key"], unique=False)

    # Plain column additions: no table rebuild, so the FTS triggers on chunks stay as they are.
    op.add_column(
        "chunks", sa.Column("source", sa.String(length=16), nullable=False, server_default="text")
    )
    op.add_column("chunks", sa.Column("region", sa.JSON(), nullable=True))
    op.add_column("chunks", sa.Column("time_start", sa.Float(), nullable=True))
    op.add_column("chunks", sa.Column("time_end", sa.Float(), nullable=True))
    op.add_column("chunks", sa.Column("thumbnail", sa.String(length=64), nullable=True))
    op.add_column("chunks", sa.Column("timeline", sa.JSON(), nullable=True))


def downgrade() -> None:
    for column in ("timeline", "thumbnail", "time_end", "time_start", "region", "source"):
        op.drop_column("chunks", column)
    with op.batch_alter_table("file_assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_assets_key"))
    op.drop_table("file_assets")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_files_perceptual_hash"))
        batch_op.drop_column("perceptual_hash")
        batch_op.drop_column("thumbnail")
        batch_op.drop_column("media_info")
