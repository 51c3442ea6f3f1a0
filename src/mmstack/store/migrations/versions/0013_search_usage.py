"""Search usage: each day's searches per team, user, normalized query and mode

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:10:00.000000

Daily counters like `usage` (and deleted with it by retention), from which the search
analytics read top queries and queries that found nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_usage",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("query", sa.String(length=512), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("searches", sa.Integer(), nullable=False),
        sa.Column("zero_results", sa.Integer(), nullable=False),
        sa.Column("results", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "team_id", "user_id", "query", "mode"),
    )
    op.create_index("ix_search_usage_team", "search_usage", ["team_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_search_usage_team", table_name="search_usage")
    op.drop_table("search_usage")
