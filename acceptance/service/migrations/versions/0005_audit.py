"""audit: an append-only log of every change a person or the service makes; closed opportunities

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 12:20:00

The table refuses UPDATE, DELETE and TRUNCATE by trigger, so not even a bug
in the application (or a hand-written query through its connection) can
rewrite the record; only dropping the trigger, which needs the table's owner,
can.

Opportunities can be closed (`closed_at`, `closed_by`): no new submission, run
or spec version from then on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import acceptance.service.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("opportunities") as batch:
        batch.add_column(
            sa.Column(
                "closed_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("closed_by", sa.String(length=32), nullable=True))
        batch.create_foreign_key("fk_opportunities_closed_by", "users", ["closed_by"], ["id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("at", acceptance.service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_subject", "audit_events", ["subject_type", "subject_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_events_no_rewrite BEFORE UPDATE OR DELETE ON audit_events"
            " FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{operation.lower()} BEFORE {operation}"
                " ON audit_events BEGIN"
                f" SELECT RAISE(ABORT, 'audit_events is append-only: {operation} refused');"
                " END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_no_rewrite ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute("DROP TRIGGER audit_events_no_update")
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    op.drop_index("ix_audit_events_action", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    with op.batch_alter_table("opportunities") as batch:
        batch.drop_constraint("fk_opportunities_closed_by", type_="foreignkey")
        batch.drop_column("closed_by")
        batch.drop_column("closed_at")
