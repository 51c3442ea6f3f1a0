"""Conversations of the OpenAI Conversations API and their items

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_conversations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_conversations_team_id", "api_conversations", ["team_id"])
    op.create_index("ix_api_conversations_updated_at", "api_conversations", ["updated_at"])
    op.create_table(
        "api_conversation_items",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["api_conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "ix_api_conversation_items_conversation_id", "api_conversation_items", ["conversation_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_api_conversation_items_conversation_id", table_name="api_conversation_items")
    op.drop_table("api_conversation_items")
    op.drop_index("ix_api_conversations_updated_at", table_name="api_conversations")
    op.drop_index("ix_api_conversations_team_id", table_name="api_conversations")
    op.drop_table("api_conversations")
