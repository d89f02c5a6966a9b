"""The engine's point-in-zone verdict equals PostGIS ST_Covers on generated polygons and points.

Polygons are star-shaped around a centre (valid by construction), or axis-aligned boxes whose
edge points are exactly representable, each with an optional hole; sizes run from metres to
hundreds of kilometres. Points: random ones around the polygon, every vertex, edge midpoints
and points at random fractions along edges (on the edge or a rounding error off it), vertices
nudged by one ulp, and the middle of the hole. The polygon reaches PostGIS as WKT written with
round-trip precision and the points as float8 arrays, so both sides judge the same doubles.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon
from sqlalchemy import text

from skyguard.geofence.index import IndexedZone, ZoneIndex
from skyguard.geofence.shapes import parse_area
from skyguard.geofence.zones import ZoneSpec

Ring = list[tuple[float, float]]

# ST_Covers, and the same question put to GEOS inside PostGIS through the DE-9IM matrix:
# a polygon covers a point when the point's interior does not meet the polygon's exterior.
VERDICTS = text("""
    WITH zone AS (SELECT ST_GeomFromText(:wkt, 4326) AS geom),
    point AS (
        SELECT n, ST_SetSRID(ST_MakePoint(x, y), 4326) AS geom
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, n)
    )
    SELECT ST_Covers(zone.geom, point.geom), ST_Relate(zone.geom, point.geom, '******F**')
    FROM zone, point
    ORDER BY point.n
""")
AS_WKB = text("SELECT ST_AsBinary(ST_GeomFromText(:wkt, 4326))")


@dataclass(frozen=True)
class Case:
    """A polygon (exterior ring, optional hole) and a point inside its hole if it has one."""

    exterior: Ring
    hole: Ring | None
    in_hole: tuple[float, float] | None

    @property
    def rings(self) -> list[Ring]:
        return [self.exterior] + ([self.hole] if self.hole else [])

    def geojson(self) -> dict[str, object]:
        return {
            "type": "Polygon",
            "coordinates": [[list(p) for p in ring + ring[:1]] for ring in self.rings],
        }


centres = st.tuples(st.floats(-170.0, 170.0), st.floats(-80.0, 80.0))
scales = st.sampled_from([1e-4, 3e-3, 0.1, 2.0])  # about 10 m, 300 m, 10 km, 200 km


@st.composite
def stars(draw: st.DrawFn) -> Case:
    """A star-shaped polygon: vertices at jittered even angles, radii 0.3..1 of the scale."""
    (lon0, lat0), scale = draw(centres), draw(scales)
    n = draw(st.integers(4, 12))
    jitters = draw(st.lists(st.floats(0.0, 0.8), min_size=n, max_size=n))
    radii = draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))
    angles = [2.0 * math.pi * (i + j) / n for i, j in enumerate(jitters)]
    exterior = [
        (lon0 + scale * r * math.cos(a), lat0 + scale * r * math.sin(a))
        for r, a in zip(radii, angles, strict=True)
    ]
    if not draw(st.booleans()):
        return Case(exterior, None, None)
    # The exterior holds the disc of radius min(r) * cos(widest angle gap / 2) around the centre.
    gaps = np.diff([*angles, angles[0] + 2.0 * math.pi])
    inradius = min(radii) * math.cos(max(gaps) / 2.0)
    m = draw(st.integers(3, 8))
    turn = draw(st.floats(0.0, 1.0))
    hole_radii = draw(st.lists(st.floats(0.3, 0.9), min_size=m, max_size=m))
    hole = [
        (
            lon0 + scale * inradius * r * math.cos(2.0 * math.pi * (k + turn) / m),
            lat0 + scale * inradius * r * math.sin(2.0 * math.pi * (k + turn) / m),
        )
        for k, r in enumerate(hole_radii)
    ]
    return Case(exterior, hole, (lon0, lat0))


@st.composite
def boxes(draw: st.DrawFn) -> Case:
    """An axis-aligned box on round coordinates, optionally with a box hole."""
    (lon0, lat0), scale = draw(centres), draw(scales)
    lon0, lat0 = round(lon0, 4), round(lat0, 4)
    w, h = scale * draw(st.integers(1, 8)) / 4.0, scale * draw(st.integers(1, 8)) / 4.0
    exterior = [(lon0, lat0), (lon0 + w, lat0), (lon0 + w, lat0 + h), (lon0, lat0 + h)]
    if not draw(st.booleans()):
        return Case(exterior, None, None)
    hole = [
        (lon0 + w / 4, lat0 + h / 4),
        (lon0 + w / 4, lat0 + 3 * h / 4),
        (lon0 + 3 * w / 4, lat0 + 3 * h / 4),
        (lon0 + 3 * w / 4, lat0 + h / 4),
    ]
    return Case(exterior, hole, (lon0 + w / 2, lat0 + h / 2))


def edges(ring: Ring) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    return list(zip(ring, ring[1:] + ring[:1], strict=True))


@st.composite
def cases_with_points(draw: st.DrawFn) -> tuple[Case, np.ndarray]:
    """A polygon and the points to judge against it, as an (n, 2) array of lon, lat."""
    case = draw(st.one_of(stars(), boxes()))
    vertices = [p for ring in case.rings for p in ring]
    sides = [e for ring in case.rings for e in edges(ring)]
    points = list(vertices)
    points += [((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0) for a, b in sides]
    for a, b in sides:
        t = draw(st.floats(0.0, 1.0))
        points.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
    for x, y in draw(st.lists(st.sampled_from(vertices), max_size=6)):
        dx, dy = draw(st.sampled_from([(-1, 0), (1, 0), (0, -1), (0, 1), (1, 1), (-1, -1)]))
        points.append((math.nextafter(x, x + dx), math.nextafter(y, y + dy)))
    xs, ys = zip(*vertices, strict=True)
    pad_x, pad_y = (max(xs) - min(xs)) * 0.1, (max(ys) - min(ys)) * 0.1
    lons = st.floats(min(xs) - pad_x, max(xs) + pad_x)
    lats = st.floats(min(ys) - pad_y, max(ys) + pad_y)
    points += draw(st.lists(st.tuples(lons, lats), min_size=5, max_size=30))
    if case.in_hole is not None:
        points.append(case.in_hole)
    return case, np.array(points, dtype=np.float64)


def squared_distance_to_boundary(case: Case, x: float, y: float) -> Fraction:
    """The squared distance from the point to the nearest edge, in exact rational arithmetic."""
    q = (Fraction(x), Fraction(y))
    nearest: Fraction | None = None
    for a, b in (e for ring in case.rings for e in edges(ring)):
        (ax, ay), (bx, by) = (Fraction(a[0]), Fraction(a[1])), (Fraction(b[0]), Fraction(b[1]))
        dx, dy = bx - ax, by - ay
        along = ((q[0] - ax) * dx + (q[1] - ay) * dy) / (dx * dx + dy * dy)
        t = Fraction(0) if along < 0 else Fraction(1) if along > 1 else along
        squared = (q[0] - ax - t * dx) ** 2 + (q[1] - ay - t * dy) ** 2
        nearest = squared if nearest is None else min(nearest, squared)
    assert nearest is not None
    return nearest


def wkt_of(case: Case) -> str:
    """WKT with every coordinate as Python's repr: the shortest text that reads back exactly."""
    rings = (
        "(" + ", ".join(f"{x!r} {y!r}" for x, y in ring + ring[:1]) + ")" for ring in case.rings
    )
    return f"POLYGON ({', '.join(rings)})"


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(generated=cases_with_points())
async def test_the_engine_covers_what_postgis_covers(connection, generated):
    """The engine agrees with GEOS in PostGIS exactly, and with ST_Covers up to its rounding.

    PostGIS answers ST_Covers(polygon, point) without GEOS: a point-in-polygon short cut that
    computes which side of an edge the point lies on in plain double arithmetic. For a point
    within rounding error of an edge (an edge midpoint of a slanted edge is rarely exactly on
    it) that side can come out as "on the edge" when the exact answer is "just outside", or the
    reverse. GEOS, in the engine (shapely) and in PostGIS (ST_Relate), decides the side with
    an exact predicate (since GEOS 3.8), so those two agree on every point. So:
    the engine equals PostGIS's GEOS everywhere, and equals ST_Covers except for points within
    a few units in the last place of the boundary, where the exact answer is the engine's.
    """
    case, points = generated
    area = parse_area(case.geojson())
    index = ZoneIndex.build([IndexedZone(uuid.uuid4(), 1, ZoneSpec(name="z", area=area))])
    lons, lats = points[:, 0], points[:, 1]
    by_covers = index.covers(0, lons, lats)
    by_tree = np.zeros(len(points), dtype=bool)
    by_tree[index.locate(lons, lats).zone[0]] = True

    polygon = Polygon(case.exterior, [case.hole] if case.hole else [])
    wkt = wkt_of(case)
    as_read = shapely.from_wkb(await connection.scalar(AS_WKB, {"wkt": wkt}))
    assert as_read.equals_exact(polygon, tolerance=0.0)  # PostGIS judges the very same doubles
    rows = list(
        await connection.execute(VERDICTS, {"wkt": wkt, "xs": lons.tolist(), "ys": lats.tolist()})
    )
    st_covers = np.array([row[0] for row in rows], dtype=bool)
    geos = np.array([row[1] for row in rows], dtype=bool)

    assert by_covers.tolist() == geos.tolist()
    assert by_tree.tolist() == geos.tolist()
    rounding = Fraction(64 * np.spacing(np.abs(points).max()))
    for x, y in points[st_covers != geos]:
        assert squared_distance_to_boundary(case, x, y) <= rounding**2, (x, y)
    vertices = sum(len(ring) for ring in case.rings)
    assert geos[:vertices].all() and st_covers[:vertices].all()  # on the boundary is inside
    if case.in_hole is not None:
        assert not geos[-1] and not st_covers[-1]
