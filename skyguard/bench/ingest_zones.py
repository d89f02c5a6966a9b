"""The ingest benchmark's zones as POST /v1/zones bodies: Swiss geozones and airports, mixed.

Sources: the 1,179 Swiss ED-318 geozones (imported and repaired as the API test does) and the
airports of the `airportsdata` package (circles, runway rectangles). Every zone then draws, from
the seeded generator, what the mix needs: its shape kind (simple polygon, a generated
500-1,000-vertex polygon, or a circle), category, altitude band (AGL or AMSL), warning buffer,
and a time window or weekly schedule placed relative to the stream's start `t0`, so that a seed
gives the same verdicts whenever the benchmark runs.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, shape
from shapely.geometry.base import BaseGeometry

from skyguard.geofence.shapes import circle_polygon
from skyguard.importers.ed318 import features_from_ed318
from skyguard.importers.repair import repair_feature

SWISS_ZIP = (
    Path(__file__).resolve().parents[3] / "shared/data/zones/SwissGeozones_ED318_Testdaten.zip"
)
METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON = 111_320.0  # at the equator; times cos(lat)
COMPLEX_VERTICES = (500, 1_000)
SCHEDULE_TIMEZONE = "Europe/Zurich"
GEOD = Geod(ellps="WGS84")

Rng = np.random.Generator


@dataclass(frozen=True)
class ZonePlan:
    """One zone: the Feature to POST, its shape kind in the mix, and the ground around it."""

    feature: dict[str, Any]
    kind: str  # "simple", "complex" (500-1,000 vertices, generated or real) or "circle"
    ground_m: float  # ground elevation AMSL around the zone, for AMSL bands and drones
    source: str  # "swiss" or "airport"


def zone_shape(feature: dict[str, Any]) -> MultiPolygon:
    """The area a zone Feature stands for: its polygons, or the geodesic polygon of a circle
    (the polygon skyguard documents it stores for a Point with radius_m)."""
    geometry = feature["geometry"]
    if geometry["type"] == "Point":
        lon, lat = geometry["coordinates"][:2]
        return MultiPolygon([circle_polygon(lon, lat, feature["properties"]["radius_m"])])
    area = shape(geometry)
    return area if isinstance(area, MultiPolygon) else MultiPolygon([area])


def local_offset(lon: float, lat: float, east_m: Any, north_m: Any) -> tuple[Any, Any]:
    """Positions east_m / north_m metres from (lon, lat), on a local flat approximation."""
    scale = METRES_PER_DEGREE_LON * math.cos(math.radians(lat))
    return lon + np.asarray(east_m) / scale, lat + np.asarray(north_m) / METRES_PER_DEGREE_LAT


def ring(lons: Any, lats: Any) -> list[list[float]]:
    """A closed GeoJSON ring from vertex arrays, coordinates rounded to 7 decimals (1 cm)."""
    points = [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lons, lats, strict=True)]
    return [*points, points[0]]


def rugged_polygon(rng: Rng, lon: float, lat: float, radius_m: float) -> dict[str, Any]:
    """A star-shaped polygon of 500-1,000 vertices around (lon, lat): a rugged boundary, as
    coastlines, rivers and borders give. Star-shaped with r > 0, so it is always valid."""
    count = int(rng.integers(COMPLEX_VERTICES[0], COMPLEX_VERTICES[1] + 1)) - 1
    angles = np.linspace(0.0, 2 * math.pi, count, endpoint=False)
    radius = np.ones(count)
    for harmonic in range(1, 7):
        radius += rng.uniform(-0.08, 0.08) * np.sin(harmonic * angles + rng.uniform(0, 6.3))
    radius += rng.uniform(-0.02, 0.02, count)  # small-scale roughness
    lons, lats = local_offset(
        lon, lat, radius_m * radius * np.cos(angles), radius_m * radius * np.sin(angles)
    )
    return {"type": "Polygon", "coordinates": [ring(lons, lats)]}


def rectangle(rng: Rng, lon: float, lat: float) -> dict[str, Any]:
    """A rotated rectangle around (lon, lat): an aerodrome's runway clearance area."""
    length, width = rng.uniform(3_000, 8_000), rng.uniform(1_000, 2_500)
    angle = rng.uniform(0, math.pi)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [length / 2, width / 2]
    east = corners[:, 0] * math.cos(angle) - corners[:, 1] * math.sin(angle)
    north = corners[:, 0] * math.sin(angle) + corners[:, 1] * math.cos(angle)
    lons, lats = local_offset(lon, lat, east, north)
    return {"type": "Polygon", "coordinates": [ring(lons, lats)]}


def circle(lon: float, lat: float, radius_m: float) -> tuple[dict[str, Any], float]:
    """A Point geometry and its radius, rounded."""
    return {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}, round(radius_m, 1)


def equal_area_radius_m(area: BaseGeometry, low: float, high: float) -> float:
    """The radius of a circle with the area's (geodesic) size, kept within [low, high]."""
    square_m = abs(GEOD.geometry_area_perimeter(area)[0])
    return float(min(high, max(low, math.sqrt(square_m / math.pi))))


def read_swiss(path: Path = SWISS_ZIP) -> list[dict[str, Any]]:
    """The Swiss ED-318 geozones as skyguard Features (invalid ones repaired, as on import)."""
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read(archive.namelist()[0]))
    return [repair_feature(f) for f in features_from_ed318(document)]


def vertex_count(geometry: dict[str, Any]) -> int:
    """Positions in a (Multi)Polygon geometry, 1 for a Point."""
    return 1 if geometry["type"] == "Point" else int(shapely.get_num_coordinates(shape(geometry)))


def swiss_zone(rng: Rng, feature: dict[str, Any], complex_share: float) -> ZonePlan:
    """A Swiss zone: its own polygon, or a circle or a rugged polygon of the same size there."""
    area = shape(feature["geometry"])
    anchor = area.representative_point()
    properties = {k: v for k, v in feature["properties"].items() if k not in TIMING_KEYS}
    geometry, kind = feature["geometry"], "simple"
    vertices = vertex_count(geometry)
    draw = rng.random()
    if COMPLEX_VERTICES[0] <= vertices <= COMPLEX_VERTICES[1]:
        kind = "complex"
    elif draw < 0.15:
        geometry, properties["radius_m"] = circle(
            anchor.x, anchor.y, equal_area_radius_m(area, 150, 5_000)
        )
        kind = "circle"
    elif draw < 0.15 + complex_share:
        geometry = rugged_polygon(rng, anchor.x, anchor.y, equal_area_radius_m(area, 200, 4_000))
        properties["name"] = f"{properties['name']} (generated, {vertex_count(geometry)} vertices)"
        kind = "complex"
    ground_m = round(float(rng.uniform(300, 1_600)), 1)
    return ZonePlan(
        {"type": "Feature", "geometry": geometry, "properties": properties}, kind, ground_m, "swiss"
    )


def airport_zone(rng: Rng, airport: dict[str, Any]) -> ZonePlan:
    """An airport's clearance zone: a circle, a runway rectangle, or a rugged polygon."""
    lon, lat = float(airport["lon"]), float(airport["lat"])
    big = bool(airport.get("iata"))
    draw = rng.random()
    properties: dict[str, Any] = {"name": f"{airport['icao']} {airport['name']}"[:300]}
    if draw < 0.60:
        geometry, properties["radius_m"] = circle(
            lon, lat, rng.uniform(3_000, 8_000) if big else rng.uniform(1_000, 3_000)
        )
        kind = "circle"
    elif draw < 0.90:
        geometry, kind = rectangle(rng, lon, lat), "simple"
    else:
        geometry, kind = rugged_polygon(rng, lon, lat, rng.uniform(1_500, 4_000)), "complex"
    ground_m = round(float(airport.get("elevation") or 0.0) * 0.3048, 1)
    return ZonePlan(
        {"type": "Feature", "geometry": geometry, "properties": properties},
        kind,
        ground_m,
        "airport",
    )


def read_airports() -> list[dict[str, Any]]:
    """Airports away from the antimeridian and the poles, in ICAO order."""
    import airportsdata

    airports: dict[str, dict[str, Any]] = dict(airportsdata.load("ICAO"))  # type: ignore[arg-type]
    return [
        airports[code]
        for code in sorted(airports)
        if abs(float(airports[code]["lon"])) <= 178.0 and abs(float(airports[code]["lat"])) <= 80.0
    ]


TIMING_KEYS = ("active_from", "active_until", "schedule")


def iso(at: datetime) -> str:
    """RFC 3339 with the UTC offset."""
    return at.isoformat()


def window_timing(rng: Rng, t0: datetime, span_s: float) -> dict[str, Any]:
    """An active window: begins mid-stream, ends mid-stream, over before it, or around it."""
    kind = int(rng.integers(4))
    hours = timedelta(hours=2)
    if kind == 0:  # a temporary zone begins while drones fly (some are inside then)
        start, end = t0 + timedelta(seconds=span_s * rng.uniform(0.2, 0.7)), t0 + hours
    elif kind == 1:  # ... or ends
        start, end = t0 - hours, t0 + timedelta(seconds=span_s * rng.uniform(0.3, 0.8))
    elif kind == 2:  # over before the stream starts: never in force here
        start, end = t0 - 2 * hours, t0 - hours / 2
    else:
        start, end = t0 - hours, t0 + hours
    return {"active_from": iso(start), "active_until": iso(end)}


def schedule_timing(rng: Rng, t0: datetime, span_s: float) -> dict[str, Any]:
    """A weekly schedule in local time: in force throughout, starting mid-stream, or closed."""
    kind = int(rng.integers(3))
    mid_minutes = max(1, math.ceil(0.4 * span_s / 60))
    start_min, length_min = {0: (-60, 240), 1: (mid_minutes, 180), 2: (240, 60)}[kind]
    local = ZoneInfo(SCHEDULE_TIMEZONE)
    start = (t0 + timedelta(minutes=start_min)).astimezone(local)
    end = (t0 + timedelta(minutes=start_min + length_min)).astimezone(local)
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    window = {"days": [days[start.weekday()]], "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
    return {"schedule": {"timezone": SCHEDULE_TIMEZONE, "windows": [window]}}


def band(rng: Rng, plan: ZonePlan) -> dict[str, Any]:
    """The altitude band: Swiss zones keep their AGL band (a fifth become AMSL), airports are
    mostly AMSL from the airport's elevation."""
    source = plan.feature["properties"]
    amsl_share = 0.2 if plan.source == "swiss" else 0.6
    if rng.random() < amsl_share:
        top = round(plan.ground_m + float(rng.uniform(60, 300)), 1)
        return {"altitude_ref": "AMSL", "floor_m": 0.0, "ceiling_m": top}
    if plan.source == "swiss":
        keys = ("altitude_ref", "floor_m", "ceiling_m")
        return {k: source.get(k) for k in keys} | {"altitude_ref": "AGL"}
    ceiling: float | None = [None, 120.0, 150.0][int(rng.integers(3))]
    return {"altitude_ref": "AGL", "floor_m": 0.0, "ceiling_m": ceiling}


def category(rng: Rng, source: str) -> str:
    """ED-269 restriction level; the Swiss data is all `restricted`, so some are changed."""
    shares = (0.2, 0.7) if source == "swiss" else (0.5, 0.4)  # prohibited, restricted
    draw = rng.random()
    return "prohibited" if draw < shares[0] else "restricted" if draw < sum(shares) else "warning"


def mixed(rng: Rng, plan: ZonePlan, t0: datetime, span_s: float) -> ZonePlan:
    """The zone with its category, band, warning buffer and timing drawn."""
    properties = dict(plan.feature["properties"])
    properties["category"] = category(rng, plan.source)
    properties.update(band(rng, plan))
    if rng.random() < 0.25:
        properties["warning_buffer_m"] = round(float(rng.uniform(50, 400)), 1)
    draw = rng.random()
    if draw < 0.10:
        properties.update(window_timing(rng, t0, span_s))
    elif draw < 0.15:
        properties.update(schedule_timing(rng, t0, span_s))
    feature = {**plan.feature, "properties": properties}
    return ZonePlan(feature, plan.kind, plan.ground_m, plan.source)


def build_zones(
    rng: Rng, count: int, t0: datetime, span_s: float, swiss_path: Path | None
) -> list[ZonePlan]:
    """`count` zones: Swiss ones first (a sample when fewer are wanted), then airports."""
    swiss = read_swiss(swiss_path) if swiss_path is not None and swiss_path.exists() else []
    if count < len(swiss):
        swiss = [swiss[i] for i in sorted(rng.choice(len(swiss), count, replace=False))]
    plans = [swiss_zone(rng, feature, complex_share=0.05) for feature in swiss]
    if count > len(plans):
        airports = read_airports()
        chosen = sorted(rng.choice(len(airports), count - len(plans), replace=False))
        plans += [airport_zone(rng, airports[i]) for i in chosen]
    return [mixed(rng, plan, t0, span_s) for plan in plans]
