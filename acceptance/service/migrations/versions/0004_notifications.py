"""notifications: emails and their delivery state, contact email and languages

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import acceptance.service.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=8), server_default="en", nullable=False)
        )
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("contact_email", sa.String(length=320), nullable=True))
        batch.add_column(
            sa.Column("language", sa.String(length=8), server_default="en", nullable=False)
        )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("decision_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_attempt_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("sent_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_index("ix_messages_submission_id", "messages", ["submission_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_submission_id", table_name="messages")
    op.drop_index("ix_messages_created_at", table_name="messages")
    op.drop_table("messages")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("language")
        batch.drop_column("contact_email")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
