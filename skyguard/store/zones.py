"""Zones in PostGIS: rows <-> ZoneSpec and GeoJSON Features, versions kept on every edit."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from geoalchemy2 import Geography
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point
from sqlalchemy import ColumnElement, and_, cast, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import Conflict, NotFound
from skyguard.geofence.schedule import parse_schedule
from skyguard.geofence.shapes import Area, area_to_geojson
from skyguard.geofence.zones import ZoneSpec
from skyguard.store import audit, revision
from skyguard.store.keys import Caller
from skyguard.store.tables import Zone, ZoneVersion

# A stored circle polygon strays from the true circle by at most its chord error (tens of metres
# for the largest radius); the index lookup for circles is widened by this much to be safe.
CIRCLE_SLACK_M = 200.0
METRES_PER_DEGREE = 110_574.0  # of latitude, at its shortest (the equator)
# On the boundary counts as inside; this absorbs float noise in geodesic distances.
BOUNDARY_TOLERANCE_M = 0.001


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
        "active_from": iso_utc(spec.active_from),
        "active_until": iso_utc(spec.active_until),
        "schedule": row.schedule,
        "warning_buffer_m": spec.warning_buffer_m,
        "authority": spec.authority,
        "description": spec.description,
        "version": row.version,
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
        "archived_at": iso_utc(row.archived_at),
    }
    if spec.area.kind == "circle":
        properties["radius_m"] = spec.area.radius_m
    return {
        "type": "Feature",
        "id": str(row.id),
        "geometry": area_to_geojson(spec.area),
        "properties": properties,
    }


def iso_utc(value: datetime | None) -> str | None:
    """RFC 3339 in UTC, so a response reads the same whatever offset the client sent."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


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
    await revision.bump(session)
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


async def load_live_zone(
    session: AsyncSession, zone_id: uuid.UUID, *, for_update: bool = False
) -> Zone:
    """The zone row if it is not archived; NotFound or Conflict otherwise."""
    row = await load_zone(session, zone_id, for_update=for_update)
    if row.archived_at is not None:
        raise Conflict(f"zone {zone_id} is archived: it can no longer be changed")
    return row


async def update_zone(
    session: AsyncSession, caller: Caller, zone_id: uuid.UUID, spec: ZoneSpec, action: str
) -> dict[str, Any]:
    """Replace the zone's definition with `spec` as a new version; the old one is kept."""
    row = await load_live_zone(session, zone_id, for_update=True)
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
    return [{**v.feature, "recorded_at": iso_utc(v.recorded_at)} for v in rows.all()]


def bbox_condition(bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """The zone touches the box; a box whose west is east of its east crosses 180°."""
    west, south, east, north = bbox
    if west <= east:
        return _touches_box(west, south, east, north)
    return or_(_touches_box(west, south, 180, north), _touches_box(-180, south, east, north))


def _touches_box(west: float, south: float, east: float, north: float) -> ColumnElement[bool]:
    """Polygons by their geometry; circles by their true (geodesic) centre and radius."""
    envelope = _envelope(west, south, east, north)
    return or_(
        and_(Zone.kind != "circle", func.ST_Intersects(Zone.geom, envelope)),
        and_(
            Zone.kind == "circle",
            # the stored polygon strays from the circle by its chords: widen the index lookup
            Zone.geom.op("&&")(_widened(west, south, east, north)),
            _circle_touches_box(west, south, east, north),
        ),
    )


def _envelope(west: float, south: float, east: float, north: float) -> ColumnElement[Any]:
    """The box as a geometry; a box of zero width or height becomes a line or a point."""
    corners = func.ST_MakeLine(func.ST_MakePoint(west, south), func.ST_MakePoint(east, north))
    return func.ST_Envelope(func.ST_SetSRID(corners, 4326))


def _widened(west: float, south: float, east: float, north: float) -> ColumnElement[Any]:
    """The box grown by CIRCLE_SLACK_M on every side, in degrees at its latitudes."""
    dlat = CIRCLE_SLACK_M / METRES_PER_DEGREE
    widest = max(abs(south), abs(north)) + dlat
    dlon = 360.0 if widest >= 89.0 else dlat / math.cos(math.radians(widest))
    return func.ST_MakeEnvelope(west - dlon, south - dlat, east + dlon, north + dlat, 4326)


def _circle_touches_box(west: float, south: float, east: float, north: float) -> Any:
    """Geodesic: the centre is in the box, or within radius_m of one of its sides.

    The nearest point of a parallel lies on the centre's meridian, so the south and north sides
    reduce to a point when the centre's longitude is within the box; beyond it, the nearest
    point is on the west or east side, which are meridians, hence geodesics.
    """
    center = cast(Zone.center, Geography)
    reach = Zone.radius_m + BOUNDARY_TOLERANCE_M
    center_lon = func.ST_X(Zone.center)

    def near(wkt: str) -> ColumnElement[bool]:
        return func.ST_DWithin(center, func.ST_GeogFromText(wkt), reach)

    def parallel(lat: float) -> Any:
        return func.ST_SetSRID(func.ST_MakePoint(center_lon, lat), 4326)

    return or_(
        func.ST_Intersects(Zone.center, _envelope(west, south, east, north)),
        near(_meridian_wkt(west, south, north)),
        near(_meridian_wkt(east, south, north)),
        and_(
            center_lon.between(west, east),
            or_(
                func.ST_DWithin(center, cast(parallel(south), Geography), reach),
                func.ST_DWithin(center, cast(parallel(north), Geography), reach),
            ),
        ),
    )


def _meridian_wkt(lon: float, south: float, north: float) -> str:
    """A box side along a meridian as WKT; the midpoint keeps pole-to-pole sides unambiguous."""
    middle = (south + north) / 2
    return f"SRID=4326;LINESTRING({lon!r} {south!r}, {lon!r} {middle!r}, {lon!r} {north!r})"


def active_condition(at: datetime) -> ColumnElement[bool]:
    """The zone is not archived, its window holds `at` and its schedule is open then."""
    return and_(
        Zone.archived_at.is_(None),
        or_(Zone.active_from.is_(None), Zone.active_from <= at),
        or_(Zone.active_until.is_(None), Zone.active_until > at),
        # An unset schedule may be stored as JSON null rather than SQL NULL: both mean "always".
        func.schedule_applies(func.nullif(Zone.schedule, text("'null'::jsonb")), at),
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
