"""Usage latency: how long each day's model requests took, per user, key and model

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:00:00.000000

Counts per latency bucket (the bounds are in `mmstack.store.usage_report`), from which
the usage report reads percentiles.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_latency",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id", "key_id", "model", "bucket"),
    )


def downgrade() -> None:
    op.drop_table("usage_latency")
