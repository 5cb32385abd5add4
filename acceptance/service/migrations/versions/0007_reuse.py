"""reusing a judged tree: runs.tree, runs.reuse_key and runs.reused_from_id

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("tree", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reuse_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reused_from_id", sa.String(length=32), nullable=True))
        batch.create_foreign_key("fk_runs_reused_from_id_runs", "runs", ["reused_from_id"], ["id"])
        batch.create_index("ix_runs_submission_reuse_key", ["submission_id", "reuse_key"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_submission_reuse_key")
        batch.drop_constraint("fk_runs_reused_from_id_runs", type_="foreignkey")
        batch.drop_column("reused_from_id")
        batch.drop_column("reuse_key")
        batch.drop_column("tree")
