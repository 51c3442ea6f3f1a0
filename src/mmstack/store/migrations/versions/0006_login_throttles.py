"""Failed logins counted per user name and address (login_throttles), not per account;
room for TOTP secrets encrypted at rest

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("username", "address"),
    )
    op.create_index("ix_login_throttles_updated_at", "login_throttles", ["updated_at"])
    # An account-wide lock let anyone keep a user out; the counts start again per address.
    with op.batch_alter_table("users") as users:
        users.drop_column("failed_logins")
        users.drop_column("locked_until")
        # Sealed at the next start (auth/mfa.py `seal_stored_secrets`), with the data key.
        users.alter_column(
            "totp_secret", type_=sa.String(length=255), existing_type=sa.String(length=64)
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.alter_column(
            "totp_secret", type_=sa.String(length=64), existing_type=sa.String(length=255)
        )
        users.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        users.add_column(sa.Column("locked_until", sa.Float(), nullable=False, server_default="0"))
    op.drop_index("ix_login_throttles_updated_at", table_name="login_throttles")
    op.drop_table("login_throttles")
