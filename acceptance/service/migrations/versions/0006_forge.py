"""forge feedback and owners' events: forge credentials, commit statuses and their attempts,
event endpoints and their deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import acceptance.service.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("forge_kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("forge_api_url", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("forge_repository", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("forge_token_encrypted", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("forge_app_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("forge_installation_id", sa.String(length=32), nullable=True))
    op.create_table(
        "forge_statuses",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("wanted", sa.String(length=64), nullable=True),
        sa.Column("delivered", sa.String(length=64), nullable=True),
        sa.Column(
            "delivered_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("check_run_id", sa.String(length=32), nullable=True),
        sa.Column("annotations_sent", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "forge_attempts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("at", acceptance.service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("forge", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forge_attempts_run_at", "forge_attempts", ["run_id", "at"])
    op.create_table(
        "event_endpoints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("opportunity_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "disabled_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["opportunity_id"], ["opportunities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_endpoints_opportunity_id", "event_endpoints", ["opportunity_id"])
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("endpoint_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_attempt_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "delivered_at", acceptance.service.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["endpoint_id"], ["event_endpoints.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_event_deliveries_endpoint_created", "event_deliveries", ["endpoint_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_event_deliveries_endpoint_created", table_name="event_deliveries")
    op.drop_table("event_deliveries")
    op.drop_index("ix_event_endpoints_opportunity_id", table_name="event_endpoints")
    op.drop_table("event_endpoints")
    op.drop_index("ix_forge_attempts_run_at", table_name="forge_attempts")
    op.drop_table("forge_attempts")
    op.drop_table("forge_statuses")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("forge_installation_id")
        batch.drop_column("forge_app_id")
        batch.drop_column("forge_token_encrypted")
        batch.drop_column("forge_repository")
        batch.drop_column("forge_api_url")
        batch.drop_column("forge_kind")
