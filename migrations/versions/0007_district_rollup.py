"""district_hours, district_rollup, district_revision: district statistics read closed hours

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "district_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_district_revision_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district_revision")),
    )
    op.execute("INSERT INTO district_revision (id, revision) VALUES (1, 0)")
    op.create_table(
        "district_rollup",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("positions", sa.BigInteger(), nullable=False),
        sa.Column(
            "rolled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_district_rollup")),
    )
    op.create_table(
        "district_hours",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("district_id", sa.UUID(), nullable=False),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("flight_id", sa.UUID(), nullable=True),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_district_hours_district_id_districts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district_hours")),
    )
    op.create_index(
        op.f("ix_district_hours_hour_district_id_serial_flight_id"),
        "district_hours",
        ["hour", "district_id", "serial", "flight_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index(
        op.f("ix_district_hours_district_id"), "district_hours", ["district_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("district_hours")
    op.drop_table("district_rollup")
    op.drop_table("district_revision")
