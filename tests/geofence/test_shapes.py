"""Zone areas: GeoJSON validation, normalisation, circles and the antimeridian."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Point, Polygon, box

from skyguard.errors import InvalidGeometry
from skyguard.geofence.shapes import (
    CIRCLE_CHORD_ERROR_M,
    MAX_CIRCLE_VERTICES,
    MIN_CIRCLE_VERTICES,
    Area,
    area_to_geojson,
    circle_polygon,
    circle_vertex_count,
    parse_area,
    wgs84,
)

GEOD = Geod(ellps="WGS84")
SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
SQUARE_CW = SQUARE[::-1]
HOLE = [[4, 4], [4, 6], [6, 6], [6, 4], [4, 4]]  # clockwise
BOWTIE = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
CROSSING = [[179, -1], [-179, -1], [-179, 1], [179, 1], [179, -1]]


def polygon(*rings: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def multipolygon(*polygons: Any) -> dict[str, Any]:
    return {"type": "MultiPolygon", "coordinates": list(polygons)}


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def with_position(index: int, position: Any) -> dict[str, Any]:
    ring = [list(p) for p in SQUARE]
    ring[index] = position
    return polygon(ring)


BAD_GEOMETRIES = [
    pytest.param([0, 0], None, "/geometry", "GeoJSON object", id="not-an-object"),
    pytest.param({"coordinates": []}, None, "/geometry/type", "None", id="no-type"),
    pytest.param(
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        None,
        "/geometry/type",
        "unsupported geometry type 'LineString'",
        id="unsupported-type",
    ),
    pytest.param({"type": "Polygon"}, None, "/geometry/coordinates", "coordinates", id="no-coords"),
    pytest.param(polygon(), None, "/geometry/coordinates", "non-empty", id="no-rings"),
    pytest.param(multipolygon(), None, "/geometry/coordinates", "at least one", id="empty-multi"),
    pytest.param(polygon("ring"), None, "/geometry/coordinates/0", "array", id="ring-not-array"),
    pytest.param(
        with_position(1, ["10", 0]),
        None,
        "/geometry/coordinates/0/1",
        "'10' is not a number",
        id="str",
    ),
    pytest.param(
        with_position(2, [True, 0]),
        None,
        "/geometry/coordinates/0/2",
        "True is not a number",
        id="bool",
    ),
    pytest.param(
        with_position(1, [10]), None, "/geometry/coordinates/0/1", "2 or 3", id="1-number"
    ),
    pytest.param(
        with_position(1, [10, 0, 5, 6]), None, "/geometry/coordinates/0/1", "2 or 3", id="4-numbers"
    ),
    pytest.param(with_position(1, 10), None, "/geometry/coordinates/0/1", "2 or 3", id="scalar"),
    pytest.param(
        with_position(3, [math.nan, 10]), None, "/geometry/coordinates/0/3", "finite", id="nan"
    ),
    pytest.param(
        with_position(3, [0, math.inf]), None, "/geometry/coordinates/0/3", "finite", id="inf"
    ),
    pytest.param(
        with_position(3, [0, 10, -math.inf]),
        None,
        "/geometry/coordinates/0/3",
        "finite",
        id="inf-alt",
    ),
    pytest.param(
        with_position(1, [200, 0]),
        None,
        "/geometry/coordinates/0/1",
        "longitude 200 is outside [-180, 180]",
        id="lon-range",
    ),
    pytest.param(
        with_position(1, [10**400, 0]),
        None,
        "/geometry/coordinates/0/1",
        "longitude 100000000000000000000...",
        id="lon-huge-int",
    ),
    pytest.param(
        with_position(2, [10, -91.5]),
        None,
        "/geometry/coordinates/0/2",
        "latitude -91.5 is outside [-90, 90]",
        id="lat-range",
    ),
    pytest.param(
        polygon([[0, 0], [1, 0], [0, 0]]),
        None,
        "/geometry/coordinates/0",
        "at least 4 positions, got 3",
        id="short-ring",
    ),
    pytest.param(
        polygon([*SQUARE[:-1], [0, 1]]),
        None,
        "/geometry/coordinates/0",
        "not closed",
        id="unclosed",
    ),
    pytest.param(
        polygon(SQUARE, [[4, 4], [4, 6], [4, 4]]),
        None,
        "/geometry/coordinates/1",
        "at least 4",
        id="short-hole",
    ),
    pytest.param(
        polygon(BOWTIE),
        None,
        "/geometry/coordinates/0",
        "self-intersection at 0.5, 0.5",
        id="bowtie",
    ),
    pytest.param(
        polygon([[0, 0], [2, 0], [1, 1], [2, 2], [0, 2], [1, 1], [0, 0]]),
        None,
        "/geometry/coordinates/0",
        "self-intersection at 1.0, 1.0",
        id="ring-touches-itself",
    ),
    pytest.param(
        polygon(SQUARE, [[4, 4], [6, 6], [6, 4], [4, 6], [4, 4]]),
        None,
        "/geometry/coordinates/1",
        "self-intersection at 5.0, 5.0",
        id="bowtie-hole",
    ),
    pytest.param(
        polygon(SQUARE, [[20, 20], [21, 20], [21, 21], [20, 20]]),
        None,
        "/geometry/coordinates",
        "hole lies outside shell at 20.0, 20.0",
        id="hole-outside",
    ),
    pytest.param(
        polygon([[0, 0], [1, 0], [2, 0], [0, 0]]),
        None,
        "/geometry/coordinates/0",
        "zero area",
        id="zero-area-line",
    ),
    pytest.param(
        polygon([[5, 5], [5, 5], [5, 5], [5, 5]]),
        None,
        "/geometry/coordinates/0",
        "zero area",
        id="zero-area-point",
    ),
    pytest.param(
        multipolygon([SQUARE], [[[5, 5], [15, 5], [15, 15], [5, 15], [5, 5]]]),
        None,
        "/geometry/coordinates",
        "multipolygon is invalid: self-intersection at",
        id="multi-overlap",
    ),
    pytest.param(
        multipolygon([SQUARE], [[[10, 0], [20, 0], [20, 10], [10, 10], [10, 0]]]),
        None,
        "/geometry/coordinates",
        "self-intersection at",
        id="multi-shared-edge",
    ),
    pytest.param(
        multipolygon([SQUARE], [[[20, 0], [21, 1], [21, 0], [20, 1], [20, 0]]]),
        None,
        "/geometry/coordinates/1/0",
        "self-intersection at 20.5, 0.5",
        id="multi-bad-part",
    ),
    pytest.param(
        multipolygon([SQUARE], [[[20, 0], [21, 0], [20, 0]]]),
        None,
        "/geometry/coordinates/1/0",
        "at least 4",
        id="multi-short-ring",
    ),
    pytest.param(
        polygon([*CROSSING[:2], [-179, 1], [179.5, -2], [179, 1], [179, -1]]),
        None,
        "/geometry/coordinates/0",
        "self-intersection at",
        id="crossing-bowtie",
    ),
    pytest.param(
        point(8.5, 47.4), None, "/properties/radius_m", "needs properties.radius_m", id="no-radius"
    ),
    pytest.param(point(8.5, 95), 100, "/geometry/coordinates", "latitude 95", id="point-lat"),
    pytest.param(
        point(
            8.5,
            47.4,
        )
        | {"coordinates": [8.5]},
        100,
        "/geometry/coordinates",
        "2 or 3",
        id="point-short",
    ),
    pytest.param(point(8.5, 47.4), 0, "/properties/radius_m", "positive", id="radius-zero"),
    pytest.param(point(8.5, 47.4), -5.0, "/properties/radius_m", "positive", id="radius-negative"),
    pytest.param(point(8.5, 47.4), math.nan, "/properties/radius_m", "positive", id="radius-nan"),
    pytest.param(point(8.5, 47.4), math.inf, "/properties/radius_m", "positive", id="radius-inf"),
    pytest.param(point(8.5, 47.4), True, "/properties/radius_m", "positive", id="radius-bool"),
    pytest.param(point(8.5, 47.4), "100", "/properties/radius_m", "positive", id="radius-str"),
    pytest.param(
        point(8.5, 47.4), 1_000_001, "/properties/radius_m", "over the cap", id="radius-too-big"
    ),
    pytest.param(point(0, 89.9), 20_000, "/properties/radius_m", "north pole", id="north-pole"),
    pytest.param(point(0, -90), 10, "/properties/radius_m", "south pole", id="south-pole"),
    pytest.param(
        polygon(SQUARE), 100, "/properties/radius_m", "applies to a Point", id="radius-on-polygon"
    ),
]


@pytest.mark.parametrize(("geometry", "radius_m", "pointer", "detail"), BAD_GEOMETRIES)
def test_bad_geometry_is_refused_with_a_pointer(geometry, radius_m, pointer, detail):
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(geometry, radius_m=radius_m)
    assert caught.value.pointer == pointer
    assert detail in caught.value.detail


@pytest.mark.parametrize(
    ("geometry", "location"),
    [
        (polygon(BOWTIE), [0.5, 0.5]),
        (polygon([[170, 0], [-170, 1], [-170, 0], [170, 1], [170, 0]]), [180.0, 0.5]),
    ],
    ids=["bowtie", "crossing-bowtie-location-in-range"],
)
def test_invalid_polygon_reports_location(geometry, location):
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(geometry)
    assert caught.value.extra["location"] == pytest.approx(location)
    assert -180 <= caught.value.extra["location"][0] <= 180


@pytest.mark.parametrize(
    ("pointer", "radius_pointer", "expected"),
    [
        ("/features/2/geometry", None, "/features/2/properties/radius_m"),
        ("/geometry", "/radius_m", "/radius_m"),
    ],
)
def test_radius_pointer_follows_the_geometry(pointer, radius_pointer, expected):
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(point(1, 2), pointer=pointer, radius_pointer=radius_pointer)
    assert caught.value.pointer == expected


@pytest.mark.parametrize(
    ("geometry", "max_vertices", "count"),
    [
        (polygon(SQUARE, HOLE), 9, 10),
        (multipolygon([SQUARE], [HOLE[::-1]]), 5, 10),
        (polygon([[i % 3, 0] for i in range(50_000)]), 10_000, 50_000),
    ],
    ids=["polygon", "multipolygon", "huge-before-parsing"],
)
def test_vertex_cap(geometry, max_vertices, count):
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(geometry, max_vertices=max_vertices)
    assert caught.value.pointer == "/geometry/coordinates"
    assert f"{count} vertices" in caught.value.detail
    assert f"cap of {max_vertices}" in caught.value.detail


def test_vertex_cap_is_inclusive():
    assert parse_area(polygon(SQUARE, HOLE), max_vertices=10).kind == "polygon"


@pytest.mark.parametrize("exterior", [SQUARE, SQUARE_CW], ids=["ccw-shell", "cw-shell"])
@pytest.mark.parametrize("hole", [HOLE, HOLE[::-1]], ids=["cw-hole", "ccw-hole"])
def test_exterior_is_ccw_and_holes_cw(exterior, hole):
    area = parse_area(polygon(exterior, hole))
    (part,) = area.shape.geoms
    assert part.exterior.is_ccw
    assert not part.interiors[0].is_ccw
    assert area_to_geojson(area) == polygon(SQUARE, HOLE)


@pytest.mark.parametrize(
    ("lon", "lat", "covered"),
    [
        (1, 1, True),
        (5, 5, False),  # in the hole
        (4.5, 5.5, False),
        (4, 5, True),  # on the hole's edge: the boundary counts as inside
        (0, 0, True),  # a vertex
        (5, 0, True),  # an edge
        (11, 5, False),
    ],
)
def test_point_in_hole_is_not_covered(lon, lat, covered):
    area = parse_area(polygon(SQUARE, HOLE))
    assert area.shape.covers(Point(lon, lat)) is covered


def test_multipolygon_keeps_its_parts():
    far = [[20, 0], [30, 0], [30, 10], [20, 10], [20, 0]]
    area = parse_area(multipolygon([SQUARE, HOLE[::-1]], [far[::-1]]))
    assert area.kind == "multipolygon"
    assert len(area.shape.geoms) == 2
    assert all(part.exterior.is_ccw for part in area.shape.geoms)
    assert area.shape.covers(Point(25, 5))
    assert not area.shape.covers(Point(5, 5))
    assert not area.shape.covers(Point(15, 5))
    assert area_to_geojson(area) == multipolygon([SQUARE, HOLE], [far])


def test_multipolygon_of_one_part_stays_a_multipolygon():
    area = parse_area(multipolygon([SQUARE]))
    assert area_to_geojson(area) == multipolygon([SQUARE])


def test_altitude_is_dropped():
    ring = [[x, y, 420.5] for x, y in SQUARE]
    assert area_to_geojson(parse_area(polygon(ring))) == polygon(SQUARE)


def test_normal_polygon_round_trips_exactly():
    ring = [
        [8.541694123456789, 47.376887123456789],
        [8.551694987654321, 47.376887456789123],
        [8.551694, 47.386887],
        [8.541694, 47.386887000000001],
        [8.541694123456789, 47.376887123456789],
    ]
    hole = [[8.545, 47.38], [8.546, 47.381], [8.547, 47.38], [8.545, 47.38]]
    geometry = polygon(ring, hole)
    assert area_to_geojson(parse_area(geometry)) == geometry


def test_whole_world_band_is_not_split():
    world = [[-180, -60], [180, -60], [180, 60], [-180, 60], [-180, -60]]
    area = parse_area(polygon(world))
    assert len(area.shape.geoms) == 1
    assert area.shape.covers(Point(0, 0))


@pytest.mark.parametrize("ring", [CROSSING, CROSSING[::-1]], ids=["ccw", "cw"])
def test_antimeridian_polygon_is_split(ring):
    area = parse_area(polygon(ring))
    assert area.kind == "polygon"
    assert len(area.shape.geoms) == 2
    for part in area.shape.geoms:
        min_lon, _, max_lon, _ = part.bounds
        assert min_lon >= -180 and max_lon <= 180
        assert part.exterior.is_ccw
    assert area.shape.covers(Point(179.9, 0))
    assert area.shape.covers(Point(-179.9, 0))
    assert area.shape.covers(Point(180, 0))
    assert area.shape.covers(Point(-180, 0))
    assert not area.shape.covers(Point(0, 0))
    assert not area.shape.covers(Point(178.9, 0))
    assert area.shape.area == pytest.approx(4.0)
    assert area_to_geojson(area)["type"] == "MultiPolygon"


def test_antimeridian_polygon_with_hole_keeps_the_hole():
    shell = [[170, -10], [-170, -10], [-170, 10], [170, 10], [170, -10]]
    hole = [[179, -1], [179, 1], [-179, 1], [-179, -1], [179, -1]]
    area = parse_area(polygon(shell, hole))
    assert area.shape.area == pytest.approx(400.0 - 4.0)
    assert not area.shape.covers(Point(179.5, 0))
    assert not area.shape.covers(Point(-179.5, 0))
    assert area.shape.covers(Point(175, 0))
    assert area.shape.covers(Point(-175, 0))


def test_antimeridian_multipolygon_splits_only_the_crossing_part():
    area = parse_area(multipolygon([CROSSING], [SQUARE]))
    assert len(area.shape.geoms) == 3
    assert area.shape.covers(Point(-179.5, 0))
    assert area.shape.covers(Point(5, 5))


@settings(max_examples=60, deadline=None)
@given(
    west=st.floats(170, 179.9),
    width=st.floats(0.2, 20),
    lon=st.floats(-180, 180),
    lat=st.floats(-5, 5),
)
def test_split_covers_what_the_unwrapped_polygon_covers(west, width, lon, lat):
    east = west + width
    ring = [[west, -2], [east, -2], [east, 2], [west, 2], [west, -2]]
    wrapped = [[x - 360 if x > 180 else x, y] for x, y in ring]
    area = parse_area(polygon(wrapped))
    oracle = box(west, -2, east, 2)
    unwrapped = lon + 360 if lon < 0 else lon
    expected = oracle.covers(Point(unwrapped, lat)) or oracle.covers(Point(lon, lat))
    assert area.shape.covers(Point(lon, lat)) is expected


def assert_on_circle(polygon_: Polygon, lon: float, lat: float, radius_m: float) -> None:
    xs, ys = polygon_.exterior.xy
    n = len(xs)
    _, _, distances = GEOD.inv([lon] * n, [lat] * n, list(xs), list(ys))
    assert max(abs(d - radius_m) for d in distances) < 0.01


@pytest.mark.parametrize(("lon", "lat"), [(8.54, 47.37), (-122.4, 37.6), (151.2, -33.9), (0, 80)])
def test_circle_of_1000_m(lon, lat):
    area = parse_area(point(lon, lat), radius_m=1000)
    assert area.kind == "circle"
    assert area.center == (lon, lat)
    assert area.radius_m == 1000.0
    (part,) = area.shape.geoms
    assert part.exterior.is_ccw
    assert part.is_valid
    assert_on_circle(part, lon, lat, 1000)
    geodesic_area_m2, _ = GEOD.geometry_area_perimeter(part)
    assert geodesic_area_m2 == pytest.approx(math.pi * 1000**2, rel=0.01)
    assert area.shape.covers(Point(lon, lat))
    assert area_to_geojson(area) == point(lon, lat)


def test_circle_near_antimeridian_is_split():
    lon, lat = 179.999, 10.0
    area = parse_area(point(lon, lat), radius_m=1000)
    assert len(area.shape.geoms) == 2
    for part in area.shape.geoms:
        min_lon, _, max_lon, _ = part.bounds
        assert min_lon >= -180 and max_lon <= 180
        xy = np.asarray(part.exterior.coords)
        on_circle = xy[np.abs(xy[:, 0]) != 180]  # the cut along ±180 is not on the circle
        n = len(on_circle)
        _, _, distances = GEOD.inv([lon] * n, [lat] * n, on_circle[:, 0], on_circle[:, 1])
        assert np.max(np.abs(distances - 1000)) < 0.01
    assert area.shape.covers(Point(lon, lat))
    assert area.shape.covers(Point(-179.9995, lat))
    assert not area.shape.covers(Point(0, lat))
    assert area_to_geojson(area) == point(lon, lat)


def test_circle_polygon_runs_past_the_antimeridian_before_splitting():
    circle = circle_polygon(-179.9995, 0, 500)
    assert circle.is_valid
    assert circle.bounds[0] < -180
    assert_on_circle(
        shapely.transform(circle, lambda xy: xy + np.array([360.0, 0.0])), 180.0005, 0, 500
    )


@pytest.mark.parametrize("radius_m", [0.1, 1, 50, 1000, 10_000, 100_000, 1_000_000])
def test_circle_vertex_count(radius_m):
    count = circle_vertex_count(radius_m)
    assert MIN_CIRCLE_VERTICES <= count <= MAX_CIRCLE_VERTICES
    chord_error_m = radius_m * (1 - math.cos(math.pi / count))
    if count < MAX_CIRCLE_VERTICES:
        assert chord_error_m < CIRCLE_CHORD_ERROR_M
    assert len(circle_polygon(8.5, 47.4, radius_m).exterior.coords) == count + 1


def test_area_is_frozen_and_circle_needs_its_centre():
    area = parse_area(polygon(SQUARE))
    with pytest.raises(dataclasses.FrozenInstanceError):
        area.kind = "circle"  # type: ignore[misc]
    with pytest.raises(ValueError, match="center"):
        Area(area.shape, "circle")


def test_geod_is_built_once():
    assert wgs84() is wgs84()
