"""alerts, alert events, engine state, zone revision

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:08:58.989982
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "zone_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_zone_revision_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone_revision")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("zone_id", sa.UUID(), nullable=False),
        sa.Column("zone_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("entry_lon", sa.Float(), nullable=False),
        sa.Column("entry_lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("depth_m", sa.Float(), nullable=False),
        sa.Column("max_depth_m", sa.Float(), nullable=False),
        sa.Column("altitude_assumed", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('breach', 'approach')", name=op.f("ck_alerts_kind")),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'resolved', 'closed')",
            name=op.f("ck_alerts_status"),
        ),
        sa.ForeignKeyConstraint(
            ["serial"], ["drones.serial"], name=op.f("fk_alerts_serial_drones")
        ),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_alerts_zone_id_zones")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_opened_at"), "alerts", ["opened_at"], unique=False)
    op.create_index(
        op.f("ix_alerts_serial_opened_at"), "alerts", ["serial", "opened_at"], unique=False
    )
    op.create_index(
        op.f("ix_alerts_zone_id_opened_at"), "alerts", ["zone_id", "opened_at"], unique=False
    )
    op.create_index(
        "uq_alerts_one_open_episode",
        "alerts",
        ["serial", "zone_id", "kind"],
        unique=True,
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_table(
        "drone_engine_state",
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column(
            "state", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True
        ),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["serial"], ["drones.serial"], name=op.f("fk_drone_engine_state_serial_drones")
        ),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_drone_engine_state")),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "body", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_events_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(op.f("ix_alert_events_alert_id"), "alert_events", ["alert_id"], unique=False)
    op.execute("INSERT INTO zone_revision (id, revision) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_events_alert_id"), table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("drone_engine_state")
    op.drop_index(
        "uq_alerts_one_open_episode",
        table_name="alerts",
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.drop_index(op.f("ix_alerts_zone_id_opened_at"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_serial_opened_at"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_opened_at"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("zone_revision")
