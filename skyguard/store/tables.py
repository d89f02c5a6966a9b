"""The PostGIS schema as SQLAlchemy 2 models, created by Alembic migrations (never create_all)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "operator", "integrator", "reviewer")
CATEGORIES = ("prohibited", "restricted", "warning")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base with stable constraint names."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dict[str, Any]: JSONB(none_as_null=True),
        uuid.UUID: UUID(as_uuid=True),
    }


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ApiKey(Base):
    """An API key: only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One write through the API: who, when, what, before and after. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "object_type", "object_id"),
        Index(None, "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = _now()
    key_id: Mapped[uuid.UUID | None] = mapped_column()
    key_name: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    object_type: Mapped[str] = mapped_column(Text)
    object_id: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()


class Zone(Base):
    """A no-fly, restricted or warning zone in its current version."""

    __tablename__ = "zones"
    __table_args__ = (
        CheckConstraint(_in("category", CATEGORIES), name="category"),
        CheckConstraint(_in("altitude_ref", ("AGL", "AMSL")), name="altitude_ref"),
        CheckConstraint(_in("kind", ("polygon", "multipolygon", "circle")), name="kind"),
        Index(None, "geom", postgresql_using="gist"),
        Index(None, "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    floor_m: Mapped[float] = mapped_column(Float)
    ceiling_m: Mapped[float | None] = mapped_column(Float)
    altitude_ref: Mapped[str] = mapped_column(Text)
    active_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    schedule: Mapped[dict[str, Any] | None] = mapped_column()
    warning_buffer_m: Mapped[float] = mapped_column(Float)
    authority: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    center: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=True
    )
    radius_m: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ZoneVersion(Base):
    """Every version a zone has had, the current one included, as the Feature then in force."""

    __tablename__ = "zone_versions"

    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature: Mapped[dict[str, Any]] = mapped_column()
    recorded_at: Mapped[datetime] = _now()
    key_id: Mapped[uuid.UUID | None] = mapped_column()


class Exemption(Base):
    """An authorisation: this drone may fly in this zone in this window (and band)."""

    __tablename__ = "exemptions"
    __table_args__ = (
        CheckConstraint("valid_until > valid_from", name="window"),
        Index(None, "zone_id"),
        Index(None, "serial"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("zones.id"))
    serial: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    floor_m: Mapped[float | None] = mapped_column(Float)
    ceiling_m: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Owner(Base):
    """A drone's owner or pilot; one person may own several drones."""

    __tablename__ = "owners"
    __table_args__ = (
        Index(
            None,
            "id_number",
            unique=True,
            postgresql_where=text("id_number IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(Text)
    organisation: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class Drone(Base):
    """A drone by serial: registered by an operator or first seen in telemetry."""

    __tablename__ = "drones"
    __table_args__ = (Index(None, "owner_id"),)

    serial: Mapped[str] = mapped_column(Text, primary_key=True)
    model: Mapped[str | None] = mapped_column(Text)
    registration_id: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("owners.id"))
    notes: Mapped[str | None] = mapped_column(Text)
    registered: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Position(Base):
    """One position report as received; (serial, time) is unique, so a duplicate is stored once.

    Partitioned by report time, one partition per UTC day (store/partitions.py makes them and
    drops those past the retention)."""

    __tablename__ = "positions"
    __table_args__ = (
        Index(None, "geom", postgresql_using="gist"),
        Index(None, "segment", postgresql_using="gist"),
        Index(None, "time"),
        {"postgresql_partition_by": "RANGE (time)"},
    )

    serial: Mapped[str] = mapped_column(Text, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    alt_m: Mapped[float | None] = mapped_column(Float)
    height_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    vspeed_mps: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(Text)
    operator_lon: Mapped[float | None] = mapped_column(Float)
    operator_lat: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = _now()
    # the straight flight from the drone's previous report, when the engine would draw it
    segment: Mapped[Any] = mapped_column(
        Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=True
    )


class DroneLatest(Base):
    """Each drone's newest report by report time: the live view reads it, late reports skip it."""

    __tablename__ = "drone_latest"
    __table_args__ = (
        Index(None, "geom", postgresql_using="gist"),
        Index(None, "time"),
    )

    serial: Mapped[str] = mapped_column(Text, ForeignKey("drones.serial"), primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    alt_m: Mapped[float | None] = mapped_column(Float)
    height_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(Text)


class IdempotentResponse(Base):
    """The first response to a request sent with an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotent_responses"

    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = _now()


ALERT_STATUSES = ("open", "acknowledged", "resolved", "closed")


class Alert(Base):
    """One alert per (drone, zone, kind, episode): opened, updated, closed; acked and resolved."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_in("status", ALERT_STATUSES), name="status"),
        CheckConstraint(_in("kind", ("breach", "approach")), name="kind"),
        Index(
            "uq_alerts_one_open_episode",
            "serial",
            "zone_id",
            "kind",
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index(None, "zone_id", "opened_at"),
        Index(None, "serial", "opened_at"),
        Index(None, "opened_at"),
        Index(None, "flight_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(Text, ForeignKey("drones.serial"))
    flight_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("flights.id"))
    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("zones.id"))
    zone_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(Text)
    entry_lon: Mapped[float] = mapped_column(Float)
    entry_lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    depth_m: Mapped[float] = mapped_column(Float)
    max_depth_m: Mapped[float] = mapped_column(Float)
    altitude_assumed: Mapped[bool] = mapped_column(Boolean)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class AlertEvent(Base):
    """Every change of an alert; ids are taken at insert, so they may commit out of order."""

    __tablename__ = "alert_events"
    __table_args__ = (Index(None, "alert_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"))
    type: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = _now()
    body: Mapped[dict[str, Any]] = mapped_column()


LAUNCH_METHODS = ("ground_start", "operator_location", "estimated")


class Flight(Base):
    """A run of one drone's reports with no gap over SKYGUARD_FLIGHT_GAP_S, summed up as it grows.

    At most one flight per drone is open (closed_at null). While it is open, the launch-point
    estimator's memory of it lives with the drone (drone_engine_state.flight); `evidence` keeps
    that memory as JSON once the flight is closed."""

    __tablename__ = "flights"
    __table_args__ = (
        CheckConstraint(_in("launch_method", LAUNCH_METHODS), name="launch_method"),
        Index(None, "serial", "started_at"),
        Index(None, "started_at"),
        Index(None, "launch_geom", postgresql_using="gist"),
        Index(
            "uq_flights_one_open_per_drone",
            "serial",
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(Text, ForeignKey("drones.serial"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_count: Mapped[int] = mapped_column(Integer)
    distance_m: Mapped[float] = mapped_column(Float)
    max_height_m: Mapped[float | None] = mapped_column(Float)
    max_alt_m: Mapped[float | None] = mapped_column(Float)
    first_lon: Mapped[float] = mapped_column(Float)
    first_lat: Mapped[float] = mapped_column(Float)
    last_lon: Mapped[float] = mapped_column(Float)
    last_lat: Mapped[float] = mapped_column(Float)
    last_alt_m: Mapped[float | None] = mapped_column(Float)
    launch_lon: Mapped[float] = mapped_column(Float)
    launch_lat: Mapped[float] = mapped_column(Float)
    launch_radius_m: Mapped[float] = mapped_column(Float)
    launch_method: Mapped[str] = mapped_column(Text)
    launch_confidence: Mapped[float] = mapped_column(Float)
    launch_basis: Mapped[str] = mapped_column(Text)
    launch_ground_alt_m: Mapped[float | None] = mapped_column(Float)
    launch_geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    landing_lon: Mapped[float | None] = mapped_column(Float)
    landing_lat: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any] | None] = mapped_column()
    updated_at: Mapped[datetime] = _now()


class District(Base):
    """An administrative area statistics are counted by (a borough, a police district)."""

    __tablename__ = "districts"
    __table_args__ = (Index(None, "geom", postgresql_using="gist"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    code: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    created_at: Mapped[datetime] = _now()


class DistrictHour(Base):
    """One closed UTC hour's reports in a district, boiled down per drone and flight (flight_id
    null: reports no stored flight covers). Rebuilt whole per hour by store/district_rollup.py."""

    __tablename__ = "district_hours"
    __table_args__ = (
        # leads with hour, so it is also the index the statistics read an hour's rows by
        Index(
            None,
            "hour",
            "district_id",
            "serial",
            "flight_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index(None, "district_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"))
    serial: Mapped[str] = mapped_column(Text)
    flight_id: Mapped[uuid.UUID | None] = mapped_column()
    reports: Mapped[int] = mapped_column(Integer)


class DistrictRollup(Base):
    """Hour `hour` is in district_hours as the districts stood at `revision`; `positions` is how
    many reports (in any district or none) the hour held when rolled, so late ones show."""

    __tablename__ = "district_rollup"

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    positions: Mapped[int] = mapped_column(BigInteger)
    rolled_at: Mapped[datetime] = _now()


class DistrictRevision(Base):
    """One row counting district creations: rolled hours at an older revision are rolled again."""

    __tablename__ = "district_revision"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


class DroneEngineState(Base):
    """One drone's memory, locked per batch: the engine's state (latest report, open episodes)
    and the open flight with its launch evidence, in compact binary (store.drone_memory)."""

    __tablename__ = "drone_engine_state"
    __table_args__ = (
        Index(
            "ix_drone_engine_state_due_at", "due_at", postgresql_where=text("due_at IS NOT NULL")
        ),
    )

    serial: Mapped[str] = mapped_column(Text, ForeignKey("drones.serial"), primary_key=True)
    state: Mapped[bytes | None] = mapped_column(LargeBinary)
    flight: Mapped[bytes | None] = mapped_column(LargeBinary)
    last_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_lon: Mapped[float | None] = mapped_column(Float)
    last_lat: Mapped[float | None] = mapped_column(Float)
    open_episodes: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    # when the expiry tick must next look at the drone (geofence.due); NULL: only a report can
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ZoneRevision(Base):
    """One row counting zone and exemption writes: workers rebuild their index when it moves."""

    __tablename__ = "zone_revision"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


WEBHOOK_EVENTS = (
    "alert.opened",
    "alert.updated",
    "alert.closed",
    "alert.acknowledged",
    "alert.resolved",
)
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


class Webhook(Base):
    """A receiver of alert events: its URL, the event types it wants, its signing secret."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # a shared secret by design (Standard Webhooks signs with it), so stored as is, never shown
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    """One alert event owed to one webhook. Migration 0004's trigger on alert_events inserts it
    in the transaction that wrote the event; senders claim it when due and retry with backoff."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        Index(None, "webhook_id", "event_id", unique=True),
        Index(None, "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id"))
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("alert_events.id"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    created_at: Mapped[datetime] = _now()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """One try at a delivery: when, the receiver's status code or the error, how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id"))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
