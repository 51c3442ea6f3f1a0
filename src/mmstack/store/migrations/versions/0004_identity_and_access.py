"""teams, users, sessions, API keys, audit log, usage; collections and files owned by teams

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_TEAM_ID = "team_default"

APPEND_ONLY_SQLITE = """
CREATE TRIGGER audit_events_no_{verb} BEFORE {VERB} ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
"""
APPEND_ONLY_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql
"""
APPEND_ONLY_POSTGRES = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
"""
NO_TRUNCATE_POSTGRES = """
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
"""


def upgrade() -> None:
    teams = op.create_table(
        "teams",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.bulk_insert(teams, [{"id": DEFAULT_TEAM_ID, "name": "default", "created_at": 0}])

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.Column("session_generation", sa.Integer(), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("last_totp_step", sa.BigInteger(), nullable=False),
        sa.Column("quotas", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("password_changed_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_index("ix_users_team_id", "users", ["team_id"])

    op.create_table(
        "recovery_codes",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "code_hash"),
    )

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("refresh_hash", sa.String(length=64), nullable=False),
        sa.Column("previous_refresh_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("refresh_hash"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_previous_refresh_hash", "sessions", ["previous_refresh_hash"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("access", sa.String(length=8), nullable=False),
        sa.Column("endpoints", sa.JSON(), nullable=True),
        sa.Column("collections", sa.JSON(), nullable=True),
        sa.Column("quotas", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_index("ix_api_keys_team_id", "api_keys", ["team_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=256), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_POSTGRES_FUNCTION)
        op.execute(APPEND_ONLY_POSTGRES)
        op.execute(NO_TRUNCATE_POSTGRES)
    else:
        for verb in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(verb=verb, VERB=verb.upper()))

    op.create_table(
        "usage",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("upload_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id", "key_id", "model"),
    )
    op.create_index("ix_usage_key", "usage", ["day", "key_id"])

    # Everything made before teams belongs to the default team; names are unique per team.
    # SQLite's constraint has no name: the naming convention gives it one to drop it by.
    with op.batch_alter_table(
        "collections", schema=None, naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"}
    ) as batch_op:
        batch_op.add_column(
            sa.Column(
                "team_id", sa.String(length=64), nullable=False, server_default=DEFAULT_TEAM_ID
            )
        )
        batch_op.create_foreign_key("fk_collections_team_id", "teams", ["team_id"], ["id"])
        batch_op.drop_constraint(_name_constraint(), type_="unique")
        batch_op.create_unique_constraint("uq_collections_team_id_name", ["team_id", "name"])
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "team_id", sa.String(length=64), nullable=False, server_default=DEFAULT_TEAM_ID
            )
        )
        batch_op.create_foreign_key("fk_files_team_id", "teams", ["team_id"], ["id"])
        batch_op.create_index("ix_files_team_id", ["team_id"], unique=False)


def _name_constraint() -> str:
    """The name the database gave the unique constraint on collections.name."""
    if op.get_bind().dialect.name == "sqlite":
        return "uq_collections_name"
    inspector = sa.inspect(op.get_bind())
    for constraint in inspector.get_unique_constraints("collections"):
        if constraint["column_names"] == ["name"] and constraint["name"]:
            return str(constraint["name"])
    raise RuntimeError("no unique constraint on collections.name to replace")


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_team_id")
        batch_op.drop_constraint("fk_files_team_id", type_="foreignkey")
        batch_op.drop_column("team_id")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_constraint("uq_collections_team_id_name", type_="unique")
        batch_op.create_unique_constraint("uq_collections_name", ["name"])
        batch_op.drop_constraint("fk_collections_team_id", type_="foreignkey")
        batch_op.drop_column("team_id")
    op.drop_index("ix_usage_key", table_name="usage")
    op.drop_table("usage")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_table("audit_events")
    op.drop_table("api_keys")
    op.drop_table("sessions")
    op.drop_table("recovery_codes")
    op.drop_table("users")
    op.drop_table("teams")
