"""Audit retention: the append-only audit log lets old events go, and nothing else

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00.000000

The database still refuses every UPDATE (and TRUNCATE) of `audit_events`; a DELETE goes
through only for rows whose `at` is below the cutoff in the one-row table
`audit_retention`. The cutoff is 0 (nothing deletable) except inside the transaction of a
retention run, which raises it, deletes, and sets it back to 0 before committing
(`mmstack.store.retention.delete_audit_events`), so no other transaction ever sees a
cutoff above 0. A trigger refuses a cutoff within the last day whoever sets it: the
newest day of the log cannot be deleted by any statement the application can make.
Without the row (deleted by hand), every DELETE is refused again.

Why a table and not a session setting: SQLite has no session variables, and a trigger on
a main table cannot read a temporary one; one design serves both dialects.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The newest events no cutoff may reach, in seconds.
NEWEST_KEPT = 86_400

SQLITE_DELETE_GUARD = """
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.at >= coalesce((SELECT cutoff FROM audit_retention WHERE id = 1), 0)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
"""
SQLITE_APPEND_ONLY_DELETE = """
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
"""
SQLITE_CUTOFF_GUARD = """
CREATE TRIGGER audit_retention_guard_{verb} BEFORE {VERB} ON audit_retention
WHEN NEW.cutoff > CAST(strftime('%s', 'now') AS REAL) - {newest}
BEGIN SELECT RAISE(ABORT, 'an audit retention cutoff within the last day'); END
"""

POSTGRES_DELETE_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_delete_guard() RETURNS trigger AS $$
BEGIN
  IF OLD.at < coalesce((SELECT cutoff FROM audit_retention WHERE id = 1), 0) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only';
END $$ LANGUAGE plpgsql
"""
POSTGRES_CUTOFF_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_retention_guard() RETURNS trigger AS $$
BEGIN
  IF NEW.cutoff > extract(epoch FROM now()) - {newest} THEN
    RAISE EXCEPTION 'an audit retention cutoff within the last day';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    retention = op.create_table(
        "audit_retention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cutoff", sa.Float(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_retention_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(retention, [{"id": 1, "cutoff": 0.0}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(POSTGRES_DELETE_GUARD_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_events_delete_guard BEFORE DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_delete_guard()"
        )
        op.execute(POSTGRES_CUTOFF_GUARD_FUNCTION.format(newest=NEWEST_KEPT))
        op.execute(
            "CREATE TRIGGER audit_retention_guard BEFORE INSERT OR UPDATE ON audit_retention "
            "FOR EACH ROW EXECUTE FUNCTION audit_retention_guard()"
        )
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute(SQLITE_DELETE_GUARD)
        for verb in ("insert", "update"):
            op.execute(SQLITE_CUTOFF_GUARD.format(verb=verb, VERB=verb.upper(), newest=NEWEST_KEPT))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_retention_guard ON audit_retention")
        op.execute("DROP FUNCTION audit_retention_guard()")
        op.execute("DROP TRIGGER audit_events_delete_guard ON audit_events")
        op.execute("DROP FUNCTION audit_events_delete_guard()")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("insert", "update"):
            op.execute(f"DROP TRIGGER audit_retention_guard_{verb}")
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute(SQLITE_APPEND_ONLY_DELETE)
    op.drop_table("audit_retention")
