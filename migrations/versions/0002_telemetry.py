"""telemetry: positions, latest position per drone, idempotent responses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:57:58.839602
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotent_responses",
        sa.Column("key_id", sa.UUID(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key_id", "idempotency_key", name=op.f("pk_idempotent_responses")),
    )
    op.create_table(
        "positions",
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("alt_m", sa.Float(), nullable=True),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("vspeed_mps", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("operator_lon", sa.Float(), nullable=True),
        sa.Column("operator_lat", sa.Float(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("serial", "time", name=op.f("pk_positions")),
    )
    op.create_index(
        op.f("ix_positions_geom"), "positions", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_positions_time"), "positions", ["time"], unique=False)
    op.create_table(
        "drone_latest",
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("alt_m", sa.Float(), nullable=True),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["serial"], ["drones.serial"], name=op.f("fk_drone_latest_serial_drones")
        ),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_drone_latest")),
    )
    op.create_index(
        op.f("ix_drone_latest_geom"),
        "drone_latest",
        ["geom"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(op.f("ix_drone_latest_time"), "drone_latest", ["time"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_drone_latest_time"), table_name="drone_latest")
    op.drop_index(op.f("ix_drone_latest_geom"), table_name="drone_latest", postgresql_using="gist")
    op.drop_table("drone_latest")
    op.drop_index(op.f("ix_positions_time"), table_name="positions")
    op.drop_index(op.f("ix_positions_geom"), table_name="positions", postgresql_using="gist")
    op.drop_table("positions")
    op.drop_table("idempotent_responses")
