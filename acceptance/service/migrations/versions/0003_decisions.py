"""decisions on finished runs, and withdrawn submissions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-12 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import acceptance.service.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(
            sa.Column(
                "withdrawn_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("withdrawn_by", sa.String(length=32), nullable=True))
        batch.create_foreign_key("fk_submissions_withdrawn_by", "users", ["withdrawn_by"], ["id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=False),
        sa.Column(
            "decided_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("supersedes_id", sa.String(length=32), nullable=True),
        sa.Column("envelope_sha256", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["supersedes_id"], ["decisions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decisions_run_decided_at", "decisions", ["run_id", "decided_at"])
    op.create_index("ix_decisions_submission_id", "decisions", ["submission_id"])


def downgrade() -> None:
    op.drop_index("ix_decisions_submission_id", table_name="decisions")
    op.drop_index("ix_decisions_run_decided_at", table_name="decisions")
    op.drop_table("decisions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_constraint("fk_submissions_withdrawn_by", type_="foreignkey")
        batch.drop_column("withdrawn_by")
        batch.drop_column("withdrawn_at")
