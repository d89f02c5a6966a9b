"""tracks: flights with launch points, districts, positions partitioned by day

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 13:17:30.840686
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# One partition per UTC day, made on demand by ingest (CREATE + ATTACH takes only a SHARE UPDATE
# EXCLUSIVE lock on the parent, so inserts and reads of other days go on), and by this migration
# for the days already stored.
ENSURE_PARTITIONS = """
CREATE FUNCTION skyguard_ensure_position_partitions(times timestamptz[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day date;
    part text;
    made integer := 0;
BEGIN
    FOR day IN SELECT DISTINCT (t AT TIME ZONE 'UTC')::date FROM unnest(times) AS t LOOP
        part := 'positions_' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(quote_ident(part)) IS NOT NULL;
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I (LIKE positions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
            EXECUTE format(
                'ALTER TABLE positions ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                part, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        EXCEPTION WHEN duplicate_table THEN
            NULL;  -- another worker made it first
        END;
    END LOOP;
    RETURN made;
END
$$
"""

POSITION_COLUMNS = (
    "serial, time, lon, lat, geom, alt_m, height_m, speed_mps, heading_deg, vspeed_mps, "
    "accuracy_m, source, operator_lon, operator_lat, received_at"
)


def partition_positions() -> None:
    """Move positions into a table partitioned by day, keeping every stored report."""
    op.execute("ALTER TABLE positions RENAME TO positions_unpartitioned")
    for index in ("pk_positions", "ix_positions_geom", "ix_positions_time"):
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_unpartitioned")
    op.create_table(
        "positions",
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT", srid=4326, spatial_index=False, nullable=False
            ),
            nullable=False,
        ),
        *(
            sa.Column(name, sa.Float(), nullable=True)
            for name in ("alt_m", "height_m", "speed_mps", "heading_deg", "vspeed_mps")
        ),
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
        postgresql_partition_by="RANGE (time)",
    )
    op.create_index(
        op.f("ix_positions_geom"), "positions", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_positions_time"), "positions", ["time"], unique=False)
    op.execute(ENSURE_PARTITIONS)
    op.execute(
        "SELECT skyguard_ensure_position_partitions("
        "ARRAY(SELECT DISTINCT date_trunc('day', time, 'UTC') FROM positions_unpartitioned))"
    )
    op.execute(
        f"INSERT INTO positions ({POSITION_COLUMNS}) "  # noqa: S608 - constant column names
        f"SELECT {POSITION_COLUMNS} FROM positions_unpartitioned"
    )
    op.execute("DROP TABLE positions_unpartitioned")


def unpartition_positions() -> None:
    """Back to one plain positions table, keeping every stored report."""
    op.execute("CREATE TABLE positions_plain (LIKE positions INCLUDING ALL)")
    op.execute(
        f"INSERT INTO positions_plain ({POSITION_COLUMNS}) SELECT {POSITION_COLUMNS} FROM positions"  # noqa: S608
    )
    op.execute("DROP TABLE positions")
    op.execute("DROP FUNCTION skyguard_ensure_position_partitions(timestamptz[])")
    op.execute("ALTER TABLE positions_plain RENAME TO positions")
    op.execute("ALTER TABLE positions RENAME CONSTRAINT positions_plain_pkey TO pk_positions")
    op.execute("ALTER INDEX positions_plain_geom_idx RENAME TO ix_positions_geom")
    op.execute("ALTER INDEX positions_plain_time_idx RENAME TO ix_positions_time")


def upgrade() -> None:
    partition_positions()
    op.create_table(
        "districts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_districts")),
        sa.UniqueConstraint("name", name=op.f("uq_districts_name")),
    )
    op.create_index(
        op.f("ix_districts_geom"), "districts", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "flights",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("max_height_m", sa.Float(), nullable=True),
        sa.Column("max_alt_m", sa.Float(), nullable=True),
        sa.Column("first_lon", sa.Float(), nullable=False),
        sa.Column("first_lat", sa.Float(), nullable=False),
        sa.Column("last_lon", sa.Float(), nullable=False),
        sa.Column("last_lat", sa.Float(), nullable=False),
        sa.Column("last_alt_m", sa.Float(), nullable=True),
        sa.Column("launch_lon", sa.Float(), nullable=False),
        sa.Column("launch_lat", sa.Float(), nullable=False),
        sa.Column("launch_radius_m", sa.Float(), nullable=False),
        sa.Column("launch_method", sa.Text(), nullable=False),
        sa.Column("launch_confidence", sa.Float(), nullable=False),
        sa.Column("launch_basis", sa.Text(), nullable=False),
        sa.Column("launch_ground_alt_m", sa.Float(), nullable=True),
        sa.Column(
            "launch_geom",
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
        sa.Column("landing_lon", sa.Float(), nullable=True),
        sa.Column("landing_lat", sa.Float(), nullable=True),
        sa.Column(
            "evidence", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=False
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "launch_method IN ('ground_start', 'operator_location', 'estimated')",
            name=op.f("ck_flights_launch_method"),
        ),
        sa.ForeignKeyConstraint(
            ["serial"], ["drones.serial"], name=op.f("fk_flights_serial_drones")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flights")),
    )
    op.create_index(
        op.f("ix_flights_launch_geom"),
        "flights",
        ["launch_geom"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        op.f("ix_flights_serial_started_at"), "flights", ["serial", "started_at"], unique=False
    )
    op.create_index(op.f("ix_flights_started_at"), "flights", ["started_at"], unique=False)
    op.create_index(
        "uq_flights_one_open_per_drone",
        "flights",
        ["serial"],
        unique=True,
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.add_column("alerts", sa.Column("flight_id", sa.UUID(), nullable=True))
    op.create_index(op.f("ix_alerts_flight_id"), "alerts", ["flight_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_alerts_flight_id_flights"), "alerts", "flights", ["flight_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_alerts_flight_id_flights"), "alerts", type_="foreignkey")
    op.drop_index(op.f("ix_alerts_flight_id"), table_name="alerts")
    op.drop_column("alerts", "flight_id")
    op.drop_index(
        "uq_flights_one_open_per_drone",
        table_name="flights",
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.drop_index(op.f("ix_flights_started_at"), table_name="flights")
    op.drop_index(op.f("ix_flights_serial_started_at"), table_name="flights")
    op.drop_index(op.f("ix_flights_launch_geom"), table_name="flights", postgresql_using="gist")
    op.drop_table("flights")
    op.drop_index(op.f("ix_districts_geom"), table_name="districts", postgresql_using="gist")
    op.drop_table("districts")
    unpartition_positions()
