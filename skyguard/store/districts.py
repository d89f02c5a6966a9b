"""Districts in PostGIS, the areas statistics are counted by (store/district_stats.py). Writes
are audited; a creation bumps the district revision, so the hourly rollup is rebuilt."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import Conflict, NotFound
from skyguard.geofence.shapes import Area, area_to_geojson
from skyguard.store import audit, district_rollup
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
    await district_rollup.bump_revision(session)
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
    """Delete the district (its rolled-up hours go with it); the audit log keeps what it was."""
    row = await load_district(session, district_id)
    before = feature_of(row)
    await session.delete(row)
    await session.flush()
    await audit.record(session, caller, "delete", "district", str(district_id), before=before)
