"""Zone areas: GeoJSON Polygon, MultiPolygon or Point-with-radius, validated and normalised."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import LinearRing, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from skyguard.errors import InvalidGeometry
from skyguard.geofence.antimeridian import (
    Coordinates,
    crosses_antimeridian,
    split_antimeridian,
    unwrap_longitudes,
)

MAX_RADIUS_M = 1_000_000.0
CIRCLE_CHORD_ERROR_M = 0.5
MIN_CIRCLE_VERTICES = 16
MAX_CIRCLE_VERTICES = 360

_SUPPORTED = "Polygon, MultiPolygon, or Point with properties.radius_m"
_REASON = re.compile(r"^(?P<what>[^\[]+)\[(?P<lon>\S+) (?P<lat>\S+)\]$")


@dataclass(frozen=True)
class Area:
    """A zone's horizontal extent in lon/lat WGS84, split at the antimeridian."""

    shape: MultiPolygon
    kind: Literal["polygon", "multipolygon", "circle"]
    center: tuple[float, float] | None = None
    radius_m: float | None = None

    def __post_init__(self) -> None:
        """Refuse a circle without its centre and radius."""
        if self.kind == "circle" and (self.center is None or self.radius_m is None):
            raise ValueError("a circle Area needs center and radius_m")


@functools.cache
def wgs84() -> Geod:
    """The WGS84 ellipsoid for geodesic computations, built on first use."""
    return Geod(ellps="WGS84")


def parse_area(
    geometry: Any,
    *,
    radius_m: float | None = None,
    max_vertices: int = 10_000,
    pointer: str = "/geometry",
    radius_pointer: str | None = None,
) -> Area:
    """Validate a GeoJSON geometry (RFC 7946) and return it as a normalised Area."""
    if not isinstance(geometry, dict):
        raise InvalidGeometry(
            detail=f"geometry must be a GeoJSON object ({_SUPPORTED})", pointer=pointer
        )
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon", "Point"):
        detail = f"unsupported geometry type {kind!r}: expected {_SUPPORTED}"
        raise InvalidGeometry(detail=detail, pointer=f"{pointer}/type")
    radius_at = radius_pointer or f"{pointer.rpartition('/')[0]}/properties/radius_m"
    coordinates = _coordinates(geometry, pointer)
    if kind == "Point":
        return _parse_circle(coordinates, radius_m, f"{pointer}/coordinates", radius_at)
    if radius_m is not None:
        raise InvalidGeometry(
            detail=f"radius_m applies to a Point, not to a {kind}", pointer=radius_at
        )
    return _parse_polygons(coordinates, kind == "MultiPolygon", max_vertices, pointer)


def area_to_geojson(area: Area) -> dict[str, Any]:
    """Render an Area as a GeoJSON geometry; a circle becomes its centre Point."""
    if area.kind == "circle":
        assert area.center is not None
        return {"type": "Point", "coordinates": [area.center[0], area.center[1]]}
    polygons = [_polygon_coordinates(part) for part in area.shape.geoms]
    if area.kind == "polygon" and len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def circle_polygon(lon: float, lat: float, radius_m: float) -> Polygon:
    """A geodesic circle as a CCW polygon; its longitudes stay continuous past ±180."""
    count = circle_vertex_count(radius_m)
    azimuths = np.linspace(360.0, 0.0, count, endpoint=False)  # decreasing azimuth runs CCW
    lons, lats, _ = wgs84().fwd(
        np.full(count, lon), np.full(count, lat), azimuths, np.full(count, radius_m)
    )
    # Geod.fwd wraps into [-180, 180]; keep vertices within 180° of the centre instead.
    lons = np.where(
        lons - lon > 180.0, lons - 360.0, np.where(lons - lon < -180.0, lons + 360.0, lons)
    )
    return orient(Polygon(np.column_stack([lons, lats])), 1.0)


def circle_vertex_count(radius_m: float) -> int:
    """Vertices needed so that no chord strays more than CIRCLE_CHORD_ERROR_M from the circle."""
    cos_half_step = max(-1.0, 1.0 - CIRCLE_CHORD_ERROR_M / radius_m)
    count = math.ceil(math.pi / math.acos(cos_half_step))
    return min(MAX_CIRCLE_VERTICES, max(MIN_CIRCLE_VERTICES, count))


def _coordinates(geometry: dict[str, Any], pointer: str) -> Any:
    """The coordinates member, which must be present and an array."""
    if not isinstance(geometry.get("coordinates"), list | tuple):
        raise InvalidGeometry(
            detail=f"a {geometry['type']} needs a coordinates array",
            pointer=f"{pointer}/coordinates",
        )
    return geometry["coordinates"]


def _parse_circle(coordinates: Any, radius_m: Any, pointer: str, radius_pointer: str) -> Area:
    """A Point plus radius: validate both and build the geodesic circle."""
    lon, lat = _read_position(coordinates, pointer)
    if radius_m is None:
        detail = "a Point zone needs properties.radius_m, its radius in metres"
        raise InvalidGeometry(detail=detail, pointer=radius_pointer)
    if not _is_number(radius_m) or not math.isfinite(radius_m) or radius_m <= 0:
        detail = f"radius_m must be a positive number of metres, got {radius_m!r}"
        raise InvalidGeometry(detail=detail, pointer=radius_pointer)
    if radius_m > MAX_RADIUS_M:
        detail = f"radius_m {radius_m} is over the cap of {MAX_RADIUS_M:,.0f} m"
        raise InvalidGeometry(detail=detail, pointer=radius_pointer, extra={"max": MAX_RADIUS_M})
    for pole_lat, name in ((90.0, "north"), (-90.0, "south")):
        if radius_m >= wgs84().inv(lon, lat, lon, pole_lat)[2]:
            detail = f"a circle of {radius_m} m around {lon}, {lat} reaches the {name} pole"
            raise InvalidGeometry(detail=f"{detail}: send it as a polygon", pointer=radius_pointer)
    parts = split_antimeridian(circle_polygon(lon, lat, float(radius_m)))
    return Area(MultiPolygon(parts), "circle", center=(lon, lat), radius_m=float(radius_m))


def _parse_polygons(coordinates: Any, multi: bool, max_vertices: int, pointer: str) -> Area:
    """Validate Polygon or MultiPolygon coordinates and normalise them into one MultiPolygon."""
    at = f"{pointer}/coordinates"
    count = _count_positions(coordinates, 3 if multi else 2)
    if count > max_vertices:
        detail = f"geometry has {count} vertices, over the cap of {max_vertices}"
        raise InvalidGeometry(
            detail=detail, pointer=at, extra={"count": count, "max": max_vertices}
        )
    if not multi:
        return Area(MultiPolygon(_read_polygon(coordinates, at)), "polygon")
    if not coordinates:
        raise InvalidGeometry(detail="a MultiPolygon needs at least one polygon", pointer=at)
    parts = [part for i, c in enumerate(coordinates) for part in _read_polygon(c, f"{at}/{i}")]
    shape = MultiPolygon(parts)
    _check_valid(shape, "multipolygon", at)  # disjoint parts may still overlap each other
    return Area(shape, "multipolygon")


def _read_polygon(value: Any, pointer: str) -> list[Polygon]:
    """One polygon's rings, validated, oriented and split at the antimeridian if it crosses."""
    if not isinstance(value, list | tuple) or not value:
        detail = "a polygon must be a non-empty array of linear rings"
        raise InvalidGeometry(detail=detail, pointer=pointer)
    rings = [_read_ring(ring, f"{pointer}/{i}") for i, ring in enumerate(value)]
    crossing = crosses_antimeridian(rings)
    if crossing:
        rings = [unwrap_longitudes(ring) for ring in rings]
    if Polygon(rings[0]).convex_hull.area == 0.0:
        detail = "polygon has zero area: its exterior ring is a line or a point"
        raise InvalidGeometry(detail=detail, pointer=f"{pointer}/0")
    polygon = Polygon(rings[0], rings[1:])
    _check_valid(polygon, "polygon", pointer, rings)
    polygon = orient(polygon, 1.0)
    return split_antimeridian(polygon) if crossing else [polygon]


def _read_ring(value: Any, pointer: str) -> Coordinates:
    """A closed linear ring of at least 4 positions, as an (n, 2) array of lon, lat."""
    if not isinstance(value, list | tuple):
        raise InvalidGeometry(detail="a linear ring must be an array of positions", pointer=pointer)
    ring = np.array([_read_position(p, f"{pointer}/{i}") for i, p in enumerate(value)])
    if len(ring) < 4:
        detail = f"a linear ring needs at least 4 positions, got {len(ring)}"
        raise InvalidGeometry(detail=detail, pointer=pointer)
    if not np.array_equal(ring[0], ring[-1]):
        first, last = ring[0].tolist(), ring[-1].tolist()
        detail = f"linear ring is not closed: first position {first} differs from last {last}"
        raise InvalidGeometry(detail=detail, pointer=pointer)
    return ring


def _read_position(value: Any, pointer: str) -> tuple[float, float]:
    """A [lon, lat] or [lon, lat, altitude] position; the altitude is checked and dropped."""
    if not isinstance(value, list | tuple) or not 2 <= len(value) <= 3:
        detail = "a position must be an array of 2 or 3 numbers: lon, lat[, altitude]"
        raise InvalidGeometry(detail=detail, pointer=pointer)
    for number in value:
        if not _is_number(number):
            raise InvalidGeometry(detail=f"{number!r} is not a number", pointer=pointer)
        if isinstance(number, float) and not math.isfinite(number):
            raise InvalidGeometry(detail=f"{number} is not a finite number", pointer=pointer)
    lon, lat = value[0], value[1]
    if not -180 <= lon <= 180:
        raise InvalidGeometry(
            detail=f"longitude {_show(lon)} is outside [-180, 180]", pointer=pointer
        )
    if not -90 <= lat <= 90:
        raise InvalidGeometry(detail=f"latitude {_show(lat)} is outside [-90, 90]", pointer=pointer)
    return float(lon), float(lat)


def _check_valid(
    shape: BaseGeometry, label: str, pointer: str, rings: list[Coordinates] | None = None
) -> None:
    """Raise with shapely's reason and location if the shape is not a valid OGC geometry."""
    reason = shapely.is_valid_reason(shape)
    if reason == "Valid Geometry":
        return
    if rings is not None:
        pointer = _ring_pointer(rings, pointer)
    match = _REASON.match(reason)
    what = (match["what"] if match else reason).strip().lower()
    if "self-intersection" in what:  # GEOS says "Ring Self-intersection" for a touching ring
        what = "self-intersection"
    if match is None:
        raise InvalidGeometry(detail=f"{label} is invalid: {what}", pointer=pointer)
    lon, lat = float(match["lon"]), float(match["lat"])
    lon = round(lon - 360.0 if lon > 180.0 else lon, 7)  # report unwrapped spots in range
    lat = round(lat, 7)
    detail = f"{label} is invalid: {what} at {lon}, {lat}"
    raise InvalidGeometry(detail=detail, pointer=pointer, extra={"location": [lon, lat]})


def _ring_pointer(rings: list[Coordinates], pointer: str) -> str:
    """Point at the first ring that crosses or touches itself, else at the whole polygon."""
    for i, ring in enumerate(rings):
        if not LinearRing(ring).is_simple:
            return f"{pointer}/{i}"
    return pointer


def _count_positions(value: Any, depth: int) -> int:
    """Count the positions nested `depth` arrays deep, ignoring anything malformed."""
    if not isinstance(value, list | tuple):
        return 0
    if depth == 1:
        return len(value)
    return sum(_count_positions(item, depth - 1) for item in value)


def _show(number: float) -> str:
    """A number for an error message, cut short if a client sent hundreds of digits."""
    text = repr(number)
    return text if len(text) <= 24 else f"{text[:21]}..."


def _is_number(value: Any) -> bool:
    """A JSON number: int or float, and not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _polygon_coordinates(polygon: Polygon) -> list[list[list[float]]]:
    """GeoJSON Polygon coordinates: the exterior ring, then the holes."""
    rings = [polygon.exterior, *polygon.interiors]
    return [[[x, y] for x, y in ring.coords] for ring in rings]
