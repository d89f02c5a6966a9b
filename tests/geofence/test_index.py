"""The zone index: covers (boundary inside, holes outside), buffers in metres, segment queries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from skyguard.geofence.index import ZoneIndex, segment_lines
from tests.geofence.builders import (
    EAST,
    GEOD,
    MID_LAT,
    NORTH,
    SOUTH,
    WEST,
    box_ring,
    east_of_edge,
    index,
    polygon,
    zone,
)

HOLED = polygon(box_ring(0.0, 0.0, 1.0, 1.0), box_ring(0.4, 0.4, 0.6, 0.6)[::-1])
MULTI = {
    "type": "MultiPolygon",
    "coordinates": [
        polygon(box_ring(0.0, 0.0, 1.0, 1.0))["coordinates"],
        polygon(box_ring(2.0, 0.0, 3.0, 1.0))["coordinates"],
    ],
}
ACROSS = polygon([(179.9, -0.1), (-179.9, -0.1), (-179.9, 0.1), (179.9, 0.1), (179.9, -0.1)])


def covered(geometry, lon, lat) -> bool:
    pairs = index(zone(geometry)).locate(np.array([lon]), np.array([lat])).zone
    return pairs.shape[1] == 1


@pytest.mark.parametrize(
    ("geometry", "lon", "lat", "inside"),
    [
        pytest.param(None, WEST, SOUTH, True, id="vertex"),
        pytest.param(None, EAST, NORTH, True, id="opposite-vertex"),
        pytest.param(None, EAST, MID_LAT, True, id="edge"),
        pytest.param(None, (WEST + EAST) / 2, NORTH, True, id="top-edge"),
        pytest.param(None, (WEST + EAST) / 2, MID_LAT, True, id="interior"),
        pytest.param(None, EAST + 1e-9, MID_LAT, False, id="just-outside"),
        pytest.param(HOLED, 0.5, 0.5, False, id="in-hole"),
        pytest.param(HOLED, 0.4, 0.5, True, id="on-hole-edge"),
        pytest.param(HOLED, 0.2, 0.5, True, id="in-ring"),
        pytest.param(MULTI, 2.5, 0.5, True, id="second-part"),
        pytest.param(MULTI, 1.5, 0.5, False, id="between-parts"),
        pytest.param(ACROSS, 179.95, 0.0, True, id="antimeridian-east"),
        pytest.param(ACROSS, -179.95, 0.0, True, id="antimeridian-west"),
        pytest.param(ACROSS, 180.0, 0.05, True, id="on-antimeridian"),
        pytest.param(ACROSS, -180.0, 0.05, True, id="on-antimeridian-negative"),
        pytest.param(ACROSS, 179.8, 0.0, False, id="antimeridian-outside"),
        pytest.param(ACROSS, 0.0, 0.0, False, id="antimeridian-other-side-of-world"),
    ],
)
def test_covers(geometry, lon, lat, inside):
    assert covered(geometry, lon, lat) is inside


def test_locate_is_vectorised_and_pairs_each_point_with_each_zone():
    a, b = zone(), zone(HOLED)
    idx = index(a, b)
    located = idx.locate(np.array([WEST, 0.2, 0.5, 50.0]), np.array([SOUTH, 0.5, 0.5, 50.0]))
    assert located.zone.tolist() == [[0, 1], [0, 1]]
    assert located.buffer.shape == (2, 0)


def test_a_point_on_the_split_line_pairs_with_its_zone_once():
    located = index(zone(ACROSS)).locate(np.array([180.0, -180.0]), np.array([0.0, 0.0]))
    assert located.zone.tolist() == [[0, 1], [0, 0]]


@pytest.mark.parametrize(
    ("metres", "in_buffer"),
    [(-10.0, True), (150.0, True), (199.0, True), (201.0, False), (250.0, False)],
)
def test_warning_buffer_is_in_metres(metres, in_buffer):
    idx = index(zone(warning_buffer_m=200.0))
    lon, lat = east_of_edge(metres)
    assert idx.locate(np.array([lon]), np.array([lat])).buffer.shape[1] == int(in_buffer)


@pytest.mark.parametrize("lat", [0.0, 47.4, 70.0, 85.0])
def test_buffer_is_geodesic_at_every_latitude(lat):
    ring = box_ring(10.0, lat - 0.01, 10.01, lat + 0.01 if lat < 85 else lat + 0.001)
    idx = index(zone(polygon(ring), warning_buffer_m=200.0))
    near = GEOD.fwd(10.01, lat, 90.0, 190.0)
    far = GEOD.fwd(10.01, lat, 90.0, 210.0)
    located = idx.locate(np.array([near[0], far[0]]), np.array([near[1], far[1]]))
    assert located.buffer.tolist() == [[0], [0]]


def test_buffer_of_an_antimeridian_zone_wraps():
    idx = index(zone(ACROSS, warning_buffer_m=200.0))
    east = GEOD.fwd(-179.9, 0.0, 90.0, 150.0)
    west = GEOD.fwd(179.9, 0.0, 270.0, 150.0)
    far = GEOD.fwd(-179.9, 0.0, 90.0, 250.0)
    lons = np.array([east[0], west[0], far[0]])
    lats = np.array([east[1], west[1], far[1]])
    assert idx.locate(lons, lats).buffer.tolist() == [[0, 1], [0, 0]]
    distances = idx.projected(0).signed_distance_m(lons, lats, np.zeros(3, dtype=bool))
    assert distances == pytest.approx([-150.0, -150.0, -250.0], abs=0.5)


def test_buffer_reaches_over_the_antimeridian_from_a_zone_short_of_it():
    short = polygon([(179.9, -0.1), (179.999, -0.1), (179.999, 0.1), (179.9, 0.1), (179.9, -0.1)])
    idx = index(zone(short, warning_buffer_m=200.0))
    near = GEOD.fwd(179.999, 0.0, 90.0, 180.0)  # over the line: a negative longitude
    far = GEOD.fwd(179.999, 0.0, 90.0, 220.0)
    assert near[0] < 0.0
    located = idx.locate(np.array([near[0], far[0]]), np.array([near[1], far[1]]))
    assert located.buffer.tolist() == [[0], [0]]
    assert located.buffer_distance == pytest.approx([-180.0], abs=0.5)


def test_circle_buffer_matches_its_radius():
    circle = {"type": "Point", "coordinates": [8.5, 47.4]}
    idx = index(zone(circle, radius_m=500.0, warning_buffer_m=200.0))
    points = [GEOD.fwd(8.5, 47.4, azimuth, d) for azimuth in (0, 45, 200) for d in (690, 710)]
    lons, lats = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    assert idx.locate(lons, lats).buffer[0].tolist() == [0, 2, 4]


@pytest.mark.parametrize(
    ("metres", "expected"),
    [(-100.0, 100.0), (0.0, 0.0), (150.0, -150.0), (1000.0, -1000.0)],
)
def test_signed_distance_is_geodesic(metres, expected):
    idx = index(zone())
    lon, lat = east_of_edge(metres)
    inside = idx.covers(0, np.array([lon]), np.array([lat]))
    distance = idx.projected(0).signed_distance_m(np.array([lon]), np.array([lat]), inside)
    assert distance[0] == pytest.approx(expected, abs=0.1)


def test_distance_to_a_hole_edge():
    idx = index(zone(HOLED))
    distance = idx.projected(0).signed_distance_m(
        np.array([0.5]), np.array([0.5]), np.array([False])
    )
    expected = GEOD.inv(0.5, 0.5, 0.5, 0.6)[2]  # 0.1° of latitude is nearer than 0.1° of longitude
    assert distance[0] == pytest.approx(-expected, rel=1e-3)


def test_crossed_finds_zones_a_segment_touches():
    idx = index(zone(), zone(HOLED))
    west = np.array([WEST - 0.01, 0.45, 0.2, 5.0, 8.49])
    east = np.array([EAST + 0.01, 0.55, 0.3, 6.0, WEST])
    lats = np.array([MID_LAT, 0.5, 0.5, 5.0, SOUTH])
    pairs = idx.crossed(west, lats, east, lats)
    # the square; nothing inside the hole; the ring; nowhere; touching a vertex counts
    assert pairs.tolist() == [[0, 2, 4], [0, 1, 0]]


def test_crossed_across_the_antimeridian_takes_the_short_way():
    idx = index(zone(ACROSS))
    pairs = idx.crossed(
        np.array([179.8, 10.0]),
        np.array([0.0, 0.0]),
        np.array([-179.8, 20.0]),
        np.array([0.0, 0.0]),
    )
    assert pairs.tolist() == [[0], [0]]
    line = segment_lines(np.array([179.8]), np.array([0.0]), np.array([-179.8]), np.array([1.0]))[0]
    assert line.length == pytest.approx(0.4 * math.hypot(1.0, 1.0 / 0.4), rel=1e-9)


def test_rebuild_reuses_frames_of_unchanged_zones():
    kept, edited = zone(warning_buffer_m=100.0), zone(HOLED, warning_buffer_m=100.0)
    first = index(kept, edited)
    first.locate(*east_of_edge_arrays(50.0))  # measures a distance: makes zone 0's frame
    kept_projected, edited_projected = first.projected(0), first.projected(1)
    moved = zone(MULTI, warning_buffer_m=100.0, zone_id=edited.id, version=2)
    second = ZoneIndex.build([kept, moved], previous=first)
    assert second.projected(0) is kept_projected
    assert second._flat[0] is first._flat[0] is not None
    assert second.projected(1) is not edited_projected
    assert second.covers(1, np.array([2.5]), np.array([0.5])).tolist() == [True]


def test_a_wider_buffer_on_an_unchanged_area_takes_effect():
    lons, lats = east_of_edge_arrays(150.0)
    first = index(zone(warning_buffer_m=100.0))
    assert first.locate(lons, lats).buffer.shape[1] == 0
    wider = zone(warning_buffer_m=200.0, zone_id=first.zones[0].id, version=2)
    assert ZoneIndex.build([wider], previous=first).locate(lons, lats).buffer.tolist() == [[0], [0]]


def east_of_edge_arrays(metres: float) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = east_of_edge(metres)
    return np.array([lon]), np.array([lat])


def test_an_empty_index_locates_nothing():
    idx = ZoneIndex.build([])
    located = idx.locate(np.array([0.0]), np.array([0.0]))
    assert located.zone.shape == (2, 0) and located.buffer.shape == (2, 0)
    assert idx.crossed(
        np.array([0.0]), np.array([0.0]), np.array([1.0]), np.array([1.0])
    ).shape == (2, 0)


def test_each_zone_id_once():
    twin = zone()
    with pytest.raises(ValueError, match="once"):
        ZoneIndex.build([twin, twin])


# Property: the index's verdict is shapely's covers, on star-shaped polygons with holes, probed
# at random points, at their vertices and on their edges. A PostGIS ST_Covers variant lives with
# the store tests.


@st.composite
def star_polygons(draw):
    count = draw(st.integers(min_value=3, max_value=12))
    angles = sorted(
        draw(
            st.lists(
                st.floats(0, 2 * math.pi, exclude_max=True),
                min_size=count,
                max_size=count,
                unique=True,
            )
        )
    )
    radii = draw(st.lists(st.floats(0.2, 1.0), min_size=count, max_size=count))
    cx = draw(st.floats(-170.0, 170.0))
    cy = draw(st.floats(-80.0, 80.0))
    shell = [
        (cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)
    ]
    candidate = Polygon(shell)
    if not candidate.is_valid or candidate.area < 1e-3:
        return draw(star_polygons())
    if draw(st.booleans()):
        size = min(radii) * 0.3
        hole = [(cx - size, cy - size), (cx - size, cy + size), (cx + size, cy + size)]
        holed = Polygon(shell, [[*hole, (cx + size, cy - size)]])
        if holed.is_valid:  # a long edge of the star may pass closer to its centre than the hole
            return holed
    return candidate


@st.composite
def probes(draw, shape):
    west, south, east, north = shape.bounds
    randoms = draw(
        st.lists(
            st.tuples(st.floats(west - 0.1, east + 0.1), st.floats(south - 0.1, north + 0.1)),
            max_size=20,
        )
    )
    coords = shapely.get_coordinates(shape.boundary)
    vertices = [
        tuple(p) for p in coords[draw(st.lists(st.integers(0, len(coords) - 1), max_size=5))]
    ]
    fraction = draw(st.floats(0.0, 1.0))
    on_edges = [
        tuple(shapely.get_coordinates(ring.interpolate(fraction, normalized=True))[0])
        for ring in [shape.exterior, *shape.interiors]
    ]
    return randoms + vertices + on_edges + [(shape.centroid.x, shape.centroid.y)]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_index_covers_equals_shapely_covers(data):
    shapes = [data.draw(star_polygons()) for _ in range(data.draw(st.integers(1, 3)))]
    points = [p for shape in shapes for p in data.draw(probes(shape))]
    geojson = [
        polygon(list(s.exterior.coords), *(list(r.coords) for r in s.interiors)) for s in shapes
    ]
    idx = index(*(zone(g) for g in geojson))
    located = idx.locate(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    found = {(int(i), int(z)) for i, z in located.zone.T}
    expected = {
        (i, z)
        for i, p in enumerate(points)
        for z, shape in enumerate(shapes)
        if shape.covers(Point(p))
    }
    assert found == expected


def test_warming_changes_no_verdict():
    zones = (zone(warning_buffer_m=200.0), zone(HOLED), zone(MULTI), zone(ACROSS))
    cold, warm = index(*zones), index(*zones)
    warm.warm()
    ZoneIndex.build([]).warm()  # nothing to warm
    lons = np.array([WEST, 0.5, 0.2, 2.5, 179.95, east_of_edge(150.0)[0], 50.0])
    lats = np.array([SOUTH, 0.5, 0.5, 0.5, 0.0, east_of_edge(150.0)[1], 50.0])
    got, expected = warm.locate(lons, lats), cold.locate(lons, lats)
    assert got.zone.tolist() == expected.zone.tolist()
    assert got.buffer.tolist() == expected.buffer.tolist()
    assert got.buffer_distance.tolist() == pytest.approx(
        expected.buffer_distance.tolist(), nan_ok=True
    )
