"""foundation: postgis, keys, audit, zones, exemptions, drones

Revision ID: 0001
Revises:
Create Date: 2026-11-22 09:49:43.222332
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Mirrors skyguard.geofence.schedule.Schedule.applies_at, for the active_at filter in SQL.
SCHEDULE_APPLIES = """
CREATE FUNCTION schedule_applies(schedule jsonb, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT schedule IS NULL OR EXISTS (
        SELECT 1
        FROM jsonb_array_elements(schedule -> 'windows') AS w,
             LATERAL (SELECT at AT TIME ZONE coalesce(schedule ->> 'timezone', 'UTC') AS t) AS l,
             LATERAL (SELECT (w ->> 'start')::time AS s, (w ->> 'end')::time AS e,
                             (ARRAY['mon','tue','wed','thu','fri','sat','sun'])[extract(isodow FROM l.t)] AS today,
                             (ARRAY['sun','mon','tue','wed','thu','fri','sat'])[extract(isodow FROM l.t)] AS yesterday) AS x
        WHERE CASE WHEN x.s < x.e
            THEN w -> 'days' ? x.today AND l.t::time >= x.s AND l.t::time < x.e
            ELSE (w -> 'days' ? x.today AND l.t::time >= x.s)
                 OR (w -> 'days' ? x.yesterday AND l.t::time < x.e)
        END
    )
$$;
"""

APPEND_ONLY = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'operator', 'integrator', 'reviewer')", name=op.f("ck_api_keys_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("key_id", sa.UUID(), nullable=True),
        sa.Column("key_name", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("object_type", sa.Text(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(
        op.f("ix_audit_log_object_type_object_id"),
        "audit_log",
        ["object_type", "object_id"],
        unique=False,
    )
    op.create_table(
        "owners",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("organisation", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owners")),
    )
    op.create_index(
        op.f("ix_owners_id_number"),
        "owners",
        ["id_number"],
        unique=True,
        postgresql_where=sa.text("id_number IS NOT NULL"),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("floor_m", sa.Float(), nullable=False),
        sa.Column("ceiling_m", sa.Float(), nullable=True),
        sa.Column("altitude_ref", sa.Text(), nullable=False),
        sa.Column("active_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("schedule", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("warning_buffer_m", sa.Float(), nullable=False),
        sa.Column("authority", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column(
            "center",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("radius_m", sa.Float(), nullable=True),
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
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("altitude_ref IN ('AGL', 'AMSL')", name=op.f("ck_zones_altitude_ref")),
        sa.CheckConstraint(
            "category IN ('prohibited', 'restricted', 'warning')", name=op.f("ck_zones_category")
        ),
        sa.CheckConstraint(
            "kind IN ('polygon', 'multipolygon', 'circle')", name=op.f("ck_zones_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
    )
    op.create_index(op.f("ix_zones_created_at_id"), "zones", ["created_at", "id"], unique=False)
    op.create_index(op.f("ix_zones_geom"), "zones", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "drones",
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("registration_id", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("registered", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.id"], name=op.f("fk_drones_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_drones")),
    )
    op.create_index(op.f("ix_drones_owner_id"), "drones", ["owner_id"], unique=False)
    op.create_table(
        "exemptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("zone_id", sa.UUID(), nullable=False),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("floor_m", sa.Float(), nullable=True),
        sa.Column("ceiling_m", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("valid_until > valid_from", name=op.f("ck_exemptions_window")),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name=op.f("fk_exemptions_zone_id_zones")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemptions")),
    )
    op.create_index(op.f("ix_exemptions_serial"), "exemptions", ["serial"], unique=False)
    op.create_index(op.f("ix_exemptions_zone_id"), "exemptions", ["zone_id"], unique=False)
    op.create_table(
        "zone_versions",
        sa.Column("zone_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("feature", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("key_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name=op.f("fk_zone_versions_zone_id_zones")
        ),
        sa.PrimaryKeyConstraint("zone_id", "version", name=op.f("pk_zone_versions")),
    )
    op.execute(APPEND_ONLY)
    op.execute(SCHEDULE_APPLIES)


def downgrade() -> None:
    op.execute("DROP FUNCTION schedule_applies(jsonb, timestamptz)")
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("zone_versions")
    op.drop_index(op.f("ix_exemptions_zone_id"), table_name="exemptions")
    op.drop_index(op.f("ix_exemptions_serial"), table_name="exemptions")
    op.drop_table("exemptions")
    op.drop_index(op.f("ix_drones_owner_id"), table_name="drones")
    op.drop_table("drones")
    op.drop_index(op.f("ix_zones_geom"), table_name="zones", postgresql_using="gist")
    op.drop_index(op.f("ix_zones_created_at_id"), table_name="zones")
    op.drop_table("zones")
    op.drop_index(
        op.f("ix_owners_id_number"),
        table_name="owners",
        postgresql_where=sa.text("id_number IS NOT NULL"),
    )
    op.drop_table("owners")
    op.drop_index(op.f("ix_audit_log_object_type_object_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
