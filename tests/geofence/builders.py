"""Small builders for engine tests: zones, indexes and reports around a square near Zurich."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pyproj import Geod

from skyguard.geofence.index import Exemption, IndexedZone, ZoneIndex
from skyguard.geofence.reports import Report
from skyguard.geofence.shapes import parse_area
from skyguard.geofence.zones import ZoneSpec

GEOD = Geod(ellps="WGS84")
T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # a Saturday, 14:00 in Zurich
WEST, EAST, SOUTH, NORTH = 8.50, 8.51, 47.40, 47.41
MID_LAT = 47.405
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[WEST, SOUTH], [EAST, SOUTH], [EAST, NORTH], [WEST, NORTH], [WEST, SOUTH]]],
}
CENTRE = ((WEST + EAST) / 2, MID_LAT)


def at(seconds: float) -> datetime:
    """T0 plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def zone(
    geometry: dict[str, Any] | None = None,
    *,
    radius_m: float | None = None,
    version: int = 1,
    exemptions: tuple[Exemption, ...] = (),
    zone_id: uuid.UUID | None = None,
    **spec: Any,
) -> IndexedZone:
    """An indexed zone over a GeoJSON geometry (the square by default)."""
    area = parse_area(geometry or SQUARE, radius_m=radius_m)
    return IndexedZone(
        zone_id or uuid.uuid4(), version, ZoneSpec(spec.pop("name", "z"), area, **spec), exemptions
    )


def index(*zones: IndexedZone) -> ZoneIndex:
    """A zone index over the given zones."""
    return ZoneIndex.build(zones)


def report(
    position: tuple[float, float], seconds: float = 0.0, serial: str = "D1", **fields: Any
) -> Report:
    """A report at a (lon, lat) position, `seconds` after T0."""
    return Report(serial, at(seconds), position[0], position[1], **fields)


def east_of_edge(metres: float, lat: float = MID_LAT) -> tuple[float, float]:
    """A point `metres` east of the square's east edge (negative: inside, west of it)."""
    lon, lat_out, _ = GEOD.fwd(EAST, lat, 90.0 if metres >= 0 else 270.0, abs(metres))
    return (float(lon), float(lat_out))


def west_of_edge(metres: float, lat: float = MID_LAT) -> tuple[float, float]:
    """A point `metres` west of the square's west edge (negative: inside)."""
    lon, lat_out, _ = GEOD.fwd(WEST, lat, 270.0 if metres >= 0 else 90.0, abs(metres))
    return (float(lon), float(lat_out))


def polygon(*rings: list[tuple[float, float]]) -> dict[str, Any]:
    """A GeoJSON Polygon from closed rings."""
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring] for ring in rings]}


def box_ring(west: float, south: float, east: float, north: float) -> list[tuple[float, float]]:
    """A closed counter-clockwise ring around a lon/lat box."""
    return [(west, south), (east, south), (east, north), (west, north), (west, south)]
