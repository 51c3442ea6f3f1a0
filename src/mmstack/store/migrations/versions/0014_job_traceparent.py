"""Jobs remember the trace of the request that queued them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 18:00:00.000000

With tracing on, a job keeps the W3C `traceparent` of the span it was queued under, and the
worker's span of the batch links to it, so a trace store leads from an upload to its
ingestion. NULL when tracing is off or the job was queued outside a request.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no copy of the jobs table.
    op.add_column("jobs", sa.Column("traceparent", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("traceparent")
