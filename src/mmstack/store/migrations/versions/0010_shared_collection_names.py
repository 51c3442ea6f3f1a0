"""Collection names may repeat within a team (OpenAI's vector stores may share a name); the
native API still refuses a taken name when it makes or renames one

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_constraint("uq_collections_team_id_name", type_="unique")
        batch_op.create_index("ix_collections_team_id_name", ["team_id", "name"], unique=False)


def downgrade() -> None:
    # Fails while two collections of a team share a name: rename one first.
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_index("ix_collections_team_id_name")
        batch_op.create_unique_constraint("uq_collections_team_id_name", ["team_id", "name"])
