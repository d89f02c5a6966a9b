"""Districts in PostGIS, the areas statistics are counted by, and what is counted in each (one
statement for all). Writes are audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import Conflict, NotFound
from skyguard.geofence.shapes import Area, area_to_geojson
from skyguard.store import audit
from skyguard.store.keys import Caller
from skyguard.store.tables import District
from skyguard.store.zones import iso_utc


@dataclass(frozen=True)
class DistrictSpec:
    """A district as validated: its name, optional code and description, and its area."""

    name: str
    area: Area
    code: str | None = None
    description: str | None = None


def feature_of(row: District) -> dict[str, Any]:
    """The district as a GeoJSON Feature (one stored part: a Polygon; several: a MultiPolygon)."""
    shape = to_shape(row.geom)
    parts = shape if isinstance(shape, MultiPolygon) else MultiPolygon([shape])
    area = Area(parts, "polygon") if len(parts.geoms) == 1 else Area(parts, "multipolygon")
    return {
        "type": "Feature",
        "id": str(row.id),
        "geometry": area_to_geojson(area),
        "properties": {
            "id": str(row.id),
            "name": row.name,
            "code": row.code,
            "description": row.description,
            "created_at": iso_utc(row.created_at),
        },
    }


async def create_district(
    session: AsyncSession, caller: Caller, spec: DistrictSpec
) -> dict[str, Any]:
    """Store a district; Conflict if one has its name."""
    taken = f"a district named {spec.name!r} exists"
    if await session.scalar(select(District.id).where(District.name == spec.name)) is not None:
        raise Conflict(taken, "/properties/name")
    row = District(
        id=uuid.uuid4(),
        name=spec.name,
        code=spec.code,
        description=spec.description,
        geom=from_shape(spec.area.shape, srid=4326),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as error:  # the same name created by another request since we looked
        raise Conflict(taken, "/properties/name") from error
    feature = feature_of(row)
    await audit.record(session, caller, "create", "district", str(row.id), after=feature)
    return feature


async def list_districts(session: AsyncSession) -> Sequence[District]:
    """Every district, by name."""
    return (await session.scalars(select(District).order_by(District.name))).all()


async def load_district(session: AsyncSession, district_id: uuid.UUID) -> District:
    """The district, or NotFound."""
    row = await session.get(District, district_id)
    if row is None:
        raise NotFound(f"no district {district_id}")
    return row


async def delete_district(session: AsyncSession, caller: Caller, district_id: uuid.UUID) -> None:
    """Delete the district; the audit log keeps what it was."""
    row = await load_district(session, district_id)
    before = feature_of(row)
    await session.delete(row)
    await session.flush()
    await audit.record(session, caller, "delete", "district", str(district_id), before=before)


# Reports are matched to districts on the GiST index of positions.geom (a nested loop over the
# few districts), each to its flight by serial and time, and boiled down at once to the distinct
# (district, drone, flight) triples, so the counting sorts hundreds of rows, not millions. Alerts
# come by the index on opened_at, their entry point probing the districts' GiST index.
DISTRICTS = text("""
WITH seen AS (
    SELECT d.id AS district_id, p.serial, f.id AS flight_id
    FROM districts d
    JOIN positions p ON ST_Covers(d.geom, p.geom)
    LEFT JOIN flights f
      ON f.serial = p.serial AND p.time BETWEEN f.started_at AND f.ended_at
     AND f.started_at < :until AND f.ended_at >= :since
    WHERE p.time >= :since AND p.time < :until
    GROUP BY 1, 2, 3
),
counted AS (
    SELECT s.district_id, count(DISTINCT s.flight_id) AS flights,
           count(DISTINCT s.serial) AS drones,
           count(DISTINCT s.serial) FILTER (WHERE NOT coalesce(dr.registered, false))
               AS unregistered_drones
    FROM seen s LEFT JOIN drones dr ON dr.serial = s.serial
    GROUP BY s.district_id
),
alerted AS (
    SELECT d.id AS district_id, count(*) AS alerts
    FROM alerts a
    JOIN districts d
      ON ST_Covers(d.geom, ST_SetSRID(ST_MakePoint(a.entry_lon, a.entry_lat), 4326))
    WHERE a.opened_at >= :since AND a.opened_at < :until
    GROUP BY d.id
)
SELECT d.id, d.name, d.code,
       coalesce(c.flights, 0) AS flights,
       coalesce(c.drones, 0) AS drones,
       coalesce(c.unregistered_drones, 0) AS unregistered_drones,
       coalesce(a.alerts, 0) AS alerts
FROM districts d
LEFT JOIN counted c ON c.district_id = d.id
LEFT JOIN alerted a ON a.district_id = d.id
ORDER BY d.name
""")


async def district_stats(
    session: AsyncSession, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Flights, drones, unregistered drones and alerts per district in [since, until)."""
    rows = await session.execute(DISTRICTS, {"since": since, "until": until})
    return [{**row._mapping, "id": str(row.id)} for row in rows]
