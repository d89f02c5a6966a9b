"""Zones in PostGIS: rows <-> ZoneSpec and GeoJSON Features, versions kept on every edit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point
from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import NotFound
from skyguard.geofence.schedule import parse_schedule
from skyguard.geofence.shapes import Area, area_to_geojson
from skyguard.geofence.zones import ZoneSpec
from skyguard.store import audit
from skyguard.store.keys import Caller
from skyguard.store.tables import Zone, ZoneVersion


@dataclass(frozen=True)
class ZoneQuery:
    """Filters for listing zones; bbox is (west, south, east, north), west > east crosses 180°."""

    bbox: tuple[float, float, float, float] | None = None
    active_at: datetime | None = None
    category: str | None = None
    include_archived: bool = False
    after: tuple[datetime, uuid.UUID] | None = None
    limit: int = 100


def spec_of(row: Zone) -> ZoneSpec:
    """The ZoneSpec a stored row holds."""
    shape = to_shape(row.geom)
    center = to_shape(row.center) if row.center is not None else None
    area = Area(
        shape=shape if isinstance(shape, MultiPolygon) else MultiPolygon([shape]),
        kind=row.kind,  # type: ignore[arg-type]
        center=(center.x, center.y) if center is not None else None,
        radius_m=row.radius_m,
    )
    return ZoneSpec(
        name=row.name,
        area=area,
        category=row.category,
        floor_m=row.floor_m,
        ceiling_m=row.ceiling_m,
        altitude_ref=row.altitude_ref,
        active_from=row.active_from,
        active_until=row.active_until,
        schedule=parse_schedule(row.schedule) if row.schedule is not None else None,
        warning_buffer_m=row.warning_buffer_m,
        authority=row.authority,
        description=row.description,
    )


def feature_of(row: Zone) -> dict[str, Any]:
    """The zone as the GeoJSON Feature the API returns."""
    spec = spec_of(row)
    properties: dict[str, Any] = {
        "id": str(row.id),
        "name": spec.name,
        "category": spec.category,
        "floor_m": spec.floor_m,
        "ceiling_m": spec.ceiling_m,
        "altitude_ref": spec.altitude_ref,
        "active_from": _iso(spec.active_from),
        "active_until": _iso(spec.active_until),
        "schedule": row.schedule,
        "warning_buffer_m": spec.warning_buffer_m,
        "authority": spec.authority,
        "description": spec.description,
        "version": row.version,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "archived_at": _iso(row.archived_at),
    }
    if spec.area.kind == "circle":
        properties["radius_m"] = spec.area.radius_m
    return {
        "type": "Feature",
        "id": str(row.id),
        "geometry": area_to_geojson(spec.area),
        "properties": properties,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _apply(row: Zone, spec: ZoneSpec) -> None:
    area = spec.area
    row.name = spec.name
    row.category = spec.category
    row.floor_m = spec.floor_m
    row.ceiling_m = spec.ceiling_m
    row.altitude_ref = spec.altitude_ref
    row.active_from = spec.active_from
    row.active_until = spec.active_until
    row.schedule = spec.schedule.to_json() if spec.schedule is not None else None
    row.warning_buffer_m = spec.warning_buffer_m
    row.authority = spec.authority
    row.description = spec.description
    row.kind = area.kind
    row.geom = from_shape(area.shape, srid=4326)
    row.center = from_shape(Point(area.center), srid=4326) if area.center else None
    row.radius_m = area.radius_m


async def _keep_version(session: AsyncSession, row: Zone, caller: Caller) -> dict[str, Any]:
    await session.flush()
    feature = feature_of(row)
    session.add(
        ZoneVersion(zone_id=row.id, version=row.version, feature=feature, key_id=caller.key_id)
    )
    await session.flush()
    return feature


async def create_zone(session: AsyncSession, caller: Caller, spec: ZoneSpec) -> dict[str, Any]:
    """Store a new zone at version 1; returns its Feature."""
    now = datetime.now(UTC)
    row = Zone(id=uuid.uuid4(), version=1, created_at=now, updated_at=now)
    _apply(row, spec)
    session.add(row)
    feature = await _keep_version(session, row, caller)
    await audit.record(session, caller, "create", "zone", str(row.id), after=feature)
    return feature


async def load_zone(session: AsyncSession, zone_id: uuid.UUID, *, for_update: bool = False) -> Zone:
    """The zone row, or NotFound."""
    query = select(Zone).where(Zone.id == zone_id)
    row = await session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound(f"no zone {zone_id}")
    return row


async def update_zone(
    session: AsyncSession, caller: Caller, zone_id: uuid.UUID, spec: ZoneSpec, action: str
) -> dict[str, Any]:
    """Replace the zone's definition with `spec` as a new version; the old one is kept."""
    row = await load_zone(session, zone_id, for_update=True)
    before = feature_of(row)
    _apply(row, spec)
    row.version += 1
    row.updated_at = datetime.now(UTC)
    feature = await _keep_version(session, row, caller)
    await audit.record(session, caller, action, "zone", str(zone_id), before=before, after=feature)
    return feature


async def archive_zone(session: AsyncSession, caller: Caller, zone_id: uuid.UUID) -> dict[str, Any]:
    """Archive: still readable, no longer in force. Archiving twice changes nothing."""
    row = await load_zone(session, zone_id, for_update=True)
    if row.archived_at is not None:
        return feature_of(row)
    before = feature_of(row)
    row.archived_at = row.updated_at = datetime.now(UTC)
    row.version += 1
    feature = await _keep_version(session, row, caller)
    await audit.record(
        session, caller, "delete", "zone", str(zone_id), before=before, after=feature
    )
    return feature


async def zone_versions(session: AsyncSession, zone_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every version of the zone, oldest first, as the Features then in force."""
    await load_zone(session, zone_id)
    rows = await session.scalars(
        select(ZoneVersion).where(ZoneVersion.zone_id == zone_id).order_by(ZoneVersion.version)
    )
    return [{**v.feature, "recorded_at": _iso(v.recorded_at)} for v in rows.all()]


def bbox_condition(bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """ST_Intersects with the box; a box whose west is east of its east crosses 180°."""
    west, south, east, north = bbox
    if west <= east:
        return func.ST_Intersects(Zone.geom, func.ST_MakeEnvelope(west, south, east, north, 4326))
    return or_(
        func.ST_Intersects(Zone.geom, func.ST_MakeEnvelope(west, south, 180, north, 4326)),
        func.ST_Intersects(Zone.geom, func.ST_MakeEnvelope(-180, south, east, north, 4326)),
    )


def active_condition(at: datetime) -> ColumnElement[bool]:
    """The zone is not archived, its window holds `at` and its schedule is open then."""
    return and_(
        Zone.archived_at.is_(None),
        or_(Zone.active_from.is_(None), Zone.active_from <= at),
        or_(Zone.active_until.is_(None), Zone.active_until > at),
        func.schedule_applies(Zone.schedule, at),
    )


async def list_zones(session: AsyncSession, query: ZoneQuery) -> Sequence[Zone]:
    """Zones matching the query in creation order, at most limit + 1 (to know there is more)."""
    statement = select(Zone).order_by(Zone.created_at, Zone.id).limit(query.limit + 1)
    if query.bbox is not None:
        statement = statement.where(bbox_condition(query.bbox))
    if query.active_at is not None:
        statement = statement.where(active_condition(query.active_at))
    if query.category is not None:
        statement = statement.where(Zone.category == query.category)
    if not query.include_archived and query.active_at is None:
        statement = statement.where(Zone.archived_at.is_(None))
    if query.after is not None:
        statement = statement.where(tuple_(Zone.created_at, Zone.id) > tuple_(*query.after))
    return (await session.scalars(statement)).all()
