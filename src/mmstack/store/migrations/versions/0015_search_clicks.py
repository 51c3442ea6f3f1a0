"""Search clicks: results opened from a search, per day, user and query

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:00:00.000000

Counters beside each search_usage row: every result opened, the searches with at least one
opened, and the sum of the opened results' ranks (click-through and the mean rank opened).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("clicks", sa.Integer()),
    ("clicked_searches", sa.Integer()),
    ("click_rank_sum", sa.BigInteger()),
)


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column(
            "search_usage", sa.Column(name, kind, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("search_usage") as batch:
        for name, _ in COLUMNS:
            batch.drop_column(name)
