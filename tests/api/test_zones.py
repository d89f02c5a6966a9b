"""Zones through the API on the real PostGIS: create, read, filter, page, edit, archive."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from pyproj import Geod
from shapely.geometry import shape
from shapely.ops import unary_union

GEOD = Geod(ellps="WGS84")
PROBLEM = "application/problem+json"

# A 0.06° x 0.05° box over Zurich, counter-clockwise.
ZURICH = [[8.50, 47.35], [8.56, 47.35], [8.56, 47.40], [8.50, 47.40], [8.50, 47.35]]
HOLE = [[8.52, 47.37], [8.52, 47.38], [8.53, 47.38], [8.53, 47.37], [8.52, 47.37]]  # clockwise
CROSSING = [[179.5, -1.0], [-179.5, -1.0], [-179.5, 1.0], [179.5, 1.0], [179.5, -1.0]]
CENTER = (8.54, 47.37)

WEEKDAYS = {
    "timezone": "Europe/Zurich",
    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}],
}


# ---------------------------------------------------------------- helpers (shared by the API tests)


def polygon(*rings: Any) -> dict[str, Any]:
    """A GeoJSON Polygon."""
    return {"type": "Polygon", "coordinates": [list(r) for r in rings]}


def square(west: float, south: float, size: float = 0.01) -> dict[str, Any]:
    """A small counter-clockwise square Polygon with its south-west corner at west, south."""
    east, north = round(west + size, 9), round(south + size, 9)
    return polygon([[west, south], [east, south], [east, north], [west, north], [west, south]])


def feature(geometry: dict[str, Any] | None = None, **properties: Any) -> dict[str, Any]:
    """A zone Feature; name defaults to 'zone'."""
    return {
        "type": "Feature",
        "geometry": geometry if geometry is not None else polygon(ZURICH),
        "properties": {"name": "zone", **properties},
    }


async def create_zone(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], body: dict[str, Any]
) -> dict[str, Any]:
    """POST a zone as the operator, asserting it was created."""
    r = await client.post("/v1/zones", json=body, headers=headers["operator"])
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def listed_names(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]], **params: Any
) -> list[str]:
    """The names GET /v1/zones returns for the given query (one page)."""
    r = await client.get("/v1/zones", params=params, headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "FeatureCollection"
    return [f["properties"]["name"] for f in r.json()["features"]]


def assert_problem(
    r: httpx.Response, status: int, pointer: str | None = None, detail: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem with this status, pointer and a detail containing `detail`."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    if pointer is not None:
        assert body.get("pointer") == pointer, body
    if detail is not None:
        assert detail in body["detail"], body
    return body


async def assert_nothing_stored(
    client: httpx.AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    """GET /v1/zones, archived ones included, is still empty."""
    assert await listed_names(client, headers, include_archived="true") == []


def close(a: Any, b: Any, tolerance: float = 1e-7) -> bool:
    """Nested coordinate arrays equal to `tolerance` degrees."""
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(close(x, y, tolerance) for x, y in zip(a, b, strict=True))
    return bool(abs(a - b) <= tolerance)


def offset(lon: float, lat: float, azimuth: float, distance_m: float) -> tuple[float, float]:
    """The point `distance_m` away from lon, lat on the WGS84 ellipsoid."""
    to_lon, to_lat, _ = GEOD.fwd(lon, lat, azimuth, distance_m)
    return float(to_lon), float(to_lat)


# ------------------------------------------------------------------------------- create and read


async def test_create_with_defaults_returns_the_feature(client, headers):
    r = await client.post("/v1/zones", json=feature(name="Zurich"), headers=headers["operator"])
    assert r.status_code == 201, r.text
    body = r.json()
    zone_id = body["id"]
    uuid.UUID(zone_id)
    assert r.headers["location"] == f"/v1/zones/{zone_id}"
    assert body["type"] == "Feature"
    assert body["geometry"]["type"] == "Polygon"
    assert close(body["geometry"]["coordinates"], [ZURICH])
    props = body["properties"]
    assert props == {
        "id": zone_id,
        "name": "Zurich",
        "category": "prohibited",
        "floor_m": 0.0,
        "ceiling_m": None,
        "altitude_ref": "AGL",
        "active_from": None,
        "active_until": None,
        "schedule": None,
        "warning_buffer_m": 0.0,
        "authority": None,
        "description": None,
        "version": 1,
        "created_at": props["created_at"],
        "updated_at": props["created_at"],
        "archived_at": None,
    }
    assert props["created_at"].endswith("Z")

    got = await client.get(r.headers["location"], headers=headers["reviewer"])
    assert got.status_code == 200, got.text
    assert got.json() == body


async def test_create_with_every_property(client, headers):
    sent = feature(
        name="Gala",
        category="restricted",
        floor_m=10,
        ceiling_m=120.5,
        altitude_ref="AMSL",
        active_from="2026-06-03T18:00:00+02:00",
        active_until="2026-06-04T02:00:00+02:00",
        schedule=WEEKDAYS,
        warning_buffer_m=250,
        authority="Stadtpolizei",
        description="evening gala",
    )
    body = await create_zone(client, headers, sent)
    props = body["properties"]
    assert {k: props[k] for k in sent["properties"]} == {
        "name": "Gala",
        "category": "restricted",
        "floor_m": 10.0,
        "ceiling_m": 120.5,
        "altitude_ref": "AMSL",
        "active_from": "2026-06-03T16:00:00Z",
        "active_until": "2026-06-04T00:00:00Z",
        "schedule": WEEKDAYS,
        "warning_buffer_m": 250.0,
        "authority": "Stadtpolizei",
        "description": "evening gala",
    }
    got = await client.get(f"/v1/zones/{body['id']}", headers=headers["operator"])
    assert got.json() == body


async def test_clockwise_exterior_is_returned_counter_clockwise(client, headers):
    clockwise = ZURICH[::-1]
    body = await create_zone(client, headers, feature(polygon(clockwise)))
    ring = body["geometry"]["coordinates"][0]
    assert close(ring, clockwise[::-1])
    assert shape(polygon(ring)).exterior.is_ccw
    assert shape(body["geometry"]).equals(shape(polygon(clockwise)))


async def test_polygon_with_a_hole_returns_the_hole(client, headers):
    body = await create_zone(client, headers, feature(polygon(ZURICH, HOLE)))
    outer, hole = body["geometry"]["coordinates"]
    assert close(outer, ZURICH)
    assert close(hole, HOLE)  # holes come back clockwise, as RFC 7946 asks
    got = (await client.get(f"/v1/zones/{body['id']}", headers=headers["reviewer"])).json()
    assert got["geometry"] == body["geometry"]
    # the hole is really a hole: a box inside it finds nothing, a box on the ring finds the zone
    assert await listed_names(client, headers, bbox="8.524,47.374,8.526,47.376") == []
    assert await listed_names(client, headers, bbox="8.505,47.36,8.51,47.365") == ["zone"]


async def test_multipolygon_round_trips(client, headers):
    parts = [square(8.5, 47.3)["coordinates"], square(8.7, 47.3)["coordinates"]]
    body = await create_zone(
        client, headers, feature({"type": "MultiPolygon", "coordinates": parts})
    )
    assert body["geometry"]["type"] == "MultiPolygon"
    assert close(body["geometry"]["coordinates"], parts)
    assert await listed_names(client, headers, bbox="8.705,47.305,8.706,47.306") == ["zone"]
    assert await listed_names(client, headers, bbox="8.6,47.3,8.65,47.35") == []


async def test_positions_with_an_altitude_come_back_two_dimensional(client, headers):
    with_altitude = [[lon, lat, 420.0] for lon, lat in ZURICH]
    body = await create_zone(client, headers, feature(polygon(with_altitude)))
    assert close(body["geometry"]["coordinates"], [ZURICH])


async def test_antimeridian_polygon_is_split_and_found_from_both_sides(client, headers):
    body = await create_zone(client, headers, feature(polygon(CROSSING), name="dateline"))
    geometry = body["geometry"]
    assert geometry["type"] == "MultiPolygon"
    assert len(geometry["coordinates"]) == 2
    lons = [p[0] for part in geometry["coordinates"] for ring in part for p in ring]
    assert all(-180 <= lon <= 180 for lon in lons)
    assert {min(lons), max(lons)} == {-180.0, 180.0}
    # the parts, shifted back east of 180, cover exactly what was sent
    shifted = [
        shape(polygon(*[[[x + 360 if x < 0 else x, y] for x, y in ring] for ring in part]))
        for part in geometry["coordinates"]
    ]
    sent = shape(polygon([[x + 360 if x < 0 else x, y] for x, y in CROSSING]))
    assert unary_union(shifted).symmetric_difference(sent).area < 1e-12
    got = (await client.get(f"/v1/zones/{body['id']}", headers=headers["reviewer"])).json()
    assert got["geometry"] == geometry

    for bbox in ("179,-2,-179,2", "179.6,0,179.9,0.5", "-179.9,0,-179.6,0.5", "170,-5,180,5"):
        assert await listed_names(client, headers, bbox=bbox) == ["dateline"], bbox
    for bbox in ("170,-5,179.4,5", "-179.4,-5,-170,5", "179,2,-179,3"):
        assert await listed_names(client, headers, bbox=bbox) == [], bbox


# ---------------------------------------------------------------------------------------- circles


async def test_circle_keeps_centre_and_radius(client, headers):
    body = await create_zone(
        client, headers, feature({"type": "Point", "coordinates": list(CENTER)}, radius_m=500)
    )
    assert body["geometry"] == {"type": "Point", "coordinates": list(CENTER)}
    assert body["properties"]["radius_m"] == 500.0
    got = (await client.get(f"/v1/zones/{body['id']}", headers=headers["reviewer"])).json()
    assert got == body


# Boxes around a point on the circle's edge that touch the circle only there, by the azimuth
# of that point from the centre: (west, south, east, north) offsets in degrees.
TOUCHING_BOXES = {
    0: (-0.005, 0.0, 0.005, 0.01),
    90: (0.0, -0.005, 0.01, 0.005),
    180: (-0.005, -0.01, 0.005, 0.0),
    270: (-0.01, -0.005, 0.0, 0.005),
    45: (0.0, 0.0, 0.01, 0.01),
    225: (-0.01, -0.01, 0.0, 0.0),
}


def box_at(lon: float, lat: float, deltas: tuple[float, float, float, float]) -> str:
    """A bbox query value: the offsets applied to lon, lat."""
    west, south, east, north = deltas
    return ",".join(repr(v) for v in (lon + west, lat + south, lon + east, lat + north))


@pytest.mark.parametrize("azimuth", sorted(TOUCHING_BOXES))
async def test_bbox_touching_the_circle_edge_finds_it(client, headers, azimuth):
    circle = feature({"type": "Point", "coordinates": list(CENTER)}, name="circle", radius_m=500)
    await create_zone(client, headers, circle)
    deltas = TOUCHING_BOXES[azimuth]
    on_edge = box_at(*offset(*CENTER, azimuth, 500), deltas)
    assert await listed_names(client, headers, bbox=on_edge) == ["circle"], on_edge
    past_edge = box_at(*offset(*CENTER, azimuth, 501), deltas)
    assert await listed_names(client, headers, bbox=past_edge) == [], past_edge


async def test_circle_across_the_antimeridian(client, headers):
    circle = feature({"type": "Point", "coordinates": [179.999, 0.0]}, radius_m=500)
    body = await create_zone(client, headers, circle)
    assert body["geometry"] == {"type": "Point", "coordinates": [179.999, 0.0]}
    east_reach, _ = offset(179.999, 0.0, 90, 500)
    assert -180 < east_reach < -179.99
    cases = {
        "179.99,-0.01,-179.99,0.01": ["zone"],
        "179.0,-1,179.9985,1": ["zone"],  # west of the centre only
        "-179.9985,-0.001,-179.99,0.001": ["zone"],  # east of 180° only
        f"{east_reach!r},-0.001,-179.9,0.001": ["zone"],  # touching its east edge
        f"{east_reach + 1e-5!r},-0.001,-179.9,0.001": [],
        "-179.9,-1,-179.0,1": [],
    }
    for bbox, expected in cases.items():
        assert await listed_names(client, headers, bbox=bbox) == expected, bbox


@pytest.mark.parametrize(
    ("radius", "detail"),
    [
        pytest.param(-5, "positive", id="negative"),
        pytest.param(0, "positive", id="zero"),
        pytest.param(5_000_000, "over the cap", id="huge"),
    ],
)
async def test_bad_radius_is_refused(client, headers, radius, detail):
    body = feature({"type": "Point", "coordinates": list(CENTER)}, radius_m=radius)
    r = await client.post("/v1/zones", json=body, headers=headers["operator"])
    assert_problem(r, 422, "/properties/radius_m", detail)
    await assert_nothing_stored(client, headers)


# ------------------------------------------------------------------------------- bad geometry


def _ring_with(index: int, position: Any) -> dict[str, Any]:
    ring = [list(p) for p in ZURICH]
    ring[index] = position
    if index == 0:
        ring[-1] = position
    return polygon(ring)


BAD_GEOMETRIES = [
    pytest.param(
        polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]),
        "/geometry/coordinates/0",
        "self-intersection at 0.5, 0.5",
        id="bow-tie",
    ),
    pytest.param(
        polygon([*ZURICH[:-1], [8.5, 47.36]]),
        "/geometry/coordinates/0",
        "not closed",
        id="unclosed",
    ),
    pytest.param(
        polygon([[8.5, 47.3], [8.6, 47.3], [8.5, 47.3]]),
        "/geometry/coordinates/0",
        "at least 4 positions",
        id="too-few-points",
    ),
    pytest.param(
        _ring_with(1, [200.0, 47.35]), "/geometry/coordinates/0/1", "longitude 200", id="lon-range"
    ),
    pytest.param(
        _ring_with(2, [8.56, -91]), "/geometry/coordinates/0/2", "latitude -91", id="lat-range"
    ),
    pytest.param(
        _ring_with(1, ["8.56", 47.35]), "/geometry/coordinates/0/1", "not a number", id="string"
    ),
    pytest.param(
        _ring_with(1, [8.56]), "/geometry/coordinates/0/1", "2 or 3 numbers", id="short-position"
    ),
    pytest.param(
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        "/geometry/type",
        "unsupported geometry type 'LineString'",
        id="linestring",
    ),
    pytest.param(
        {"type": "GeometryCollection", "geometries": []},
        "/geometry/type",
        "unsupported geometry type",
        id="collection",
    ),
    pytest.param(
        {"type": "Point", "coordinates": [8.5, 47.3]},
        "/properties/radius_m",
        "needs properties.radius_m",
        id="point-without-radius",
    ),
    pytest.param(
        {"type": "Polygon"}, "/geometry/coordinates", "coordinates array", id="no-coordinates"
    ),
    pytest.param(
        polygon([[0, 0], [1, 0], [2, 0], [0, 0]]), "/geometry/coordinates/0", "zero area", id="line"
    ),
    pytest.param(
        {
            "type": "MultiPolygon",
            "coordinates": [square(8.5, 47.3)["coordinates"], square(8.505, 47.305)["coordinates"]],
        },
        "/geometry/coordinates",
        "multipolygon is invalid",
        id="overlapping-parts",
    ),
]


@pytest.mark.parametrize(("geometry", "pointer", "detail"), BAD_GEOMETRIES)
async def test_bad_geometry_is_refused_and_not_stored(client, headers, geometry, pointer, detail):
    r = await client.post("/v1/zones", json=feature(geometry), headers=headers["operator"])
    problem = assert_problem(r, 422, pointer, detail)
    if "self-intersection" in detail:
        assert problem["location"] == [0.5, 0.5]
    await assert_nothing_stored(client, headers)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_coordinates_are_refused(client, headers, number):
    text = json.dumps(feature(polygon(ZURICH))).replace("8.56, 47.35", f"{number}, 47.35", 1)
    assert number in text
    r = await client.post(
        "/v1/zones",
        content=text,
        headers={**headers["operator"], "content-type": "application/json"},
    )
    assert_problem(r, 422, "/geometry/coordinates/0/1", "not a finite number")
    await assert_nothing_stored(client, headers)


@pytest.mark.parametrize("field", ["floor_m", "ceiling_m", "warning_buffer_m", "radius_m"])
async def test_non_finite_properties_are_refused(client, headers, field):
    text = json.dumps(feature(polygon(ZURICH))).replace('"name"', f'"{field}": NaN, "name"')
    r = await client.post(
        "/v1/zones",
        content=text,
        headers={**headers["operator"], "content-type": "application/json"},
    )
    assert_problem(r, 422, f"/properties/{field}")
    await assert_nothing_stored(client, headers)


async def test_more_vertices_than_the_cap_is_refused(client, headers, settings):
    cap = settings.max_zone_vertices
    lon, lat = offset(*CENTER, 0, 0)
    ring = [
        list(offset(lon, lat, 360.0 * i / cap, 1000.0)) for i in range(cap)
    ]  # cap + 1 positions once closed
    ring.append(ring[0])
    r = await client.post("/v1/zones", json=feature(polygon(ring)), headers=headers["operator"])
    problem = assert_problem(r, 422, "/geometry/coordinates", f"over the cap of {cap}")
    assert problem["count"] == cap + 1
    assert problem["max"] == cap
    await assert_nothing_stored(client, headers)

    ring = [*ring[: cap - 1], ring[0]]  # exactly the cap
    await create_zone(client, headers, feature(polygon(ring)))


async def test_body_over_the_cap_is_413(client, headers, settings):
    body = feature(polygon(ZURICH), description="x" * settings.max_body_bytes)
    r = await client.post("/v1/zones", json=body, headers=headers["operator"])
    assert_problem(r, 413, detail="limit")
    await assert_nothing_stored(client, headers)


async def test_streamed_body_over_the_cap_is_413(client, headers, settings):
    async def chunks():
        yield b'{"type": "Feature", "properties": {"name": "'
        for _ in range(settings.max_body_bytes // 100_000 + 1):
            yield b"x" * 100_000
        yield b'"}}'

    r = await client.post(
        "/v1/zones",
        content=chunks(),
        headers={**headers["operator"], "content-type": "application/json"},
    )
    assert_problem(r, 413, detail="limit")
    await assert_nothing_stored(client, headers)


# ------------------------------------------------------------------------ property validation

BAD_PROPERTIES = [
    pytest.param({"name": None}, "/properties/name", id="missing-name"),
    pytest.param({"name": ""}, "/properties/name", id="empty-name"),
    pytest.param({"category": "forbidden"}, "/properties/category", id="bad-category"),
    pytest.param({"altitude_ref": "MSL"}, "/properties/altitude_ref", id="bad-altitude-ref"),
    pytest.param({"floor_m": 200, "ceiling_m": 100}, "/properties/ceiling_m", id="floor>ceiling"),
    pytest.param({"floor_m": 100, "ceiling_m": 100}, "/properties/ceiling_m", id="floor=ceiling"),
    pytest.param({"floor_m": "high"}, "/properties/floor_m", id="floor-not-number"),
    pytest.param({"warning_buffer_m": -1}, "/properties/warning_buffer_m", id="negative-buffer"),
    pytest.param(
        {"active_from": "2026-06-03T18:00:00"}, "/properties/active_from", id="naive-from"
    ),
    pytest.param(
        {"active_until": "2026-06-03T18:00:00"}, "/properties/active_until", id="naive-until"
    ),
    pytest.param({"active_from": "tomorrow"}, "/properties/active_from", id="not-a-time"),
    pytest.param(
        {"active_from": "2026-06-03T18:00:00Z", "active_until": "2026-06-03T17:00:00Z"},
        "/properties/active_until",
        id="window-backwards",
    ),
    pytest.param(
        {"schedule": {"timezone": "Mars/Olympus", "windows": WEEKDAYS["windows"]}},
        "/properties/schedule/timezone",
        id="schedule-timezone",
    ),
    pytest.param(
        {"schedule": {"windows": [{"days": ["funday"], "start": "08:00", "end": "09:00"}]}},
        "/properties/schedule/windows/0/days",
        id="schedule-day",
    ),
    pytest.param(
        {"schedule": {"windows": [{"days": ["mon"], "start": "18:00", "end": "18:00"}]}},
        "/properties/schedule/windows/0/end",
        id="schedule-empty-window",
    ),
    pytest.param({"radius_m": 100}, "/properties/radius_m", id="radius-on-polygon"),
]


@pytest.mark.parametrize(("properties", "pointer"), BAD_PROPERTIES)
async def test_bad_properties_are_422_naming_the_field(client, headers, properties, pointer):
    body = feature(polygon(ZURICH), **properties)
    body["properties"] = {k: v for k, v in body["properties"].items() if v is not None}
    r = await client.post("/v1/zones", json=body, headers=headers["operator"])
    problem = assert_problem(r, 422, pointer)
    assert problem["detail"]
    await assert_nothing_stored(client, headers)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        pytest.param({"type": "Feature", "properties": {"name": "x"}}, "/geometry", id="no-geom"),
        pytest.param(
            {"type": "Feature", "geometry": polygon(ZURICH)}, "/properties", id="no-props"
        ),
        pytest.param({**feature(), "type": "FeatureCollection"}, "/type", id="not-a-feature"),
    ],
)
async def test_malformed_features_are_422(client, headers, body, pointer):
    r = await client.post("/v1/zones", json=body, headers=headers["operator"])
    assert_problem(r, 422, pointer)


async def test_malformed_json_is_422(client, headers):
    r = await client.post(
        "/v1/zones",
        content=b'{"type": "Feature",',
        headers={**headers["operator"], "content-type": "application/json"},
    )
    assert_problem(r, 422)


# ------------------------------------------------------------------------------------ listing


async def test_list_filters_by_category(client, headers):
    for category in ("prohibited", "restricted", "warning"):
        await create_zone(client, headers, feature(name=category, category=category))
    assert await listed_names(client, headers) == ["prohibited", "restricted", "warning"]
    for category in ("prohibited", "restricted", "warning"):
        assert await listed_names(client, headers, category=category) == [category]
    r = await client.get("/v1/zones?category=forbidden", headers=headers["reviewer"])
    assert_problem(r, 422, "query:category")


async def test_list_filters_by_bbox(client, headers):
    await create_zone(client, headers, feature(square(8.5, 47.3), name="zurich"))
    await create_zone(client, headers, feature(square(-74.0, 40.7), name="new york"))
    await create_zone(client, headers, feature(square(179.5, -17.0, 0.4), name="fiji east"))
    await create_zone(client, headers, feature(square(-179.9, -17.0, 0.4), name="fiji west"))
    cases = {
        "8,47,9,48": ["zurich"],
        "8.51,47.30,8.51,47.30": ["zurich"],  # a point-sized box on the zone
        "8.501,47.301,8.502,47.302": ["zurich"],  # a box inside the zone
        "8.51,47.31,8.52,47.32": ["zurich"],  # touching its north-east corner
        "8.505,47.305,8.505,47.305": ["zurich"],  # a point inside the zone
        "8.505,47.2,8.505,47.4": ["zurich"],  # a meridian through it
        "8.511,47.30,8.52,47.30": [],
        "-75,40,-73,41": ["new york"],
        "-180,-90,180,90": ["zurich", "new york", "fiji east", "fiji west"],
        "178,-18,-178,-16": ["fiji east", "fiji west"],  # across the antimeridian
        "179.6,-18,179.7,-16": ["fiji east"],
        "-179.7,-18,-179.6,-16": ["fiji west"],
        "179.95,-18,-179.95,-16": [],  # across the antimeridian, between the two
        "0,0,1,1": [],
        "8.51,47.2,8.6,47.4": ["zurich"],  # touching its east edge
        "8.5101,47.3,8.6,47.4": [],
    }
    for bbox, expected in cases.items():
        assert sorted(await listed_names(client, headers, bbox=bbox)) == sorted(expected), bbox


@pytest.mark.parametrize(
    "bbox",
    ["1,2,3", "a,b,c,d", "0,0,1,1,2", "-181,0,1,1", "0,-91,1,1", "0,10,1,5", "0,0,1,nan", ""],
)
async def test_bad_bbox_is_422(client, headers, bbox):
    r = await client.get("/v1/zones", params={"bbox": bbox}, headers=headers["reviewer"])
    assert_problem(r, 422, "query:bbox")


async def test_active_at_for_a_temporary_zone(client, headers):
    await create_zone(client, headers, feature(name="permanent"))
    await create_zone(
        client,
        headers,
        feature(
            name="gala",
            active_from="2026-06-03T18:00:00+02:00",
            active_until="2026-06-04T02:00:00+02:00",
        ),
    )
    cases = {
        "2026-06-03T15:59:59Z": ["permanent"],  # before
        "2026-06-03T16:00:00Z": ["permanent", "gala"],  # its first instant
        "2026-06-03T20:00:00+02:00": ["permanent", "gala"],  # inside
        "2026-06-03T23:59:59Z": ["permanent", "gala"],
        "2026-06-04T00:00:00Z": ["permanent"],  # the end is exclusive
        "2026-06-10T12:00:00Z": ["permanent"],  # after
    }
    for at, expected in cases.items():
        assert await listed_names(client, headers, active_at=at) == expected, at
    assert await listed_names(client, headers) == ["permanent", "gala"]


async def test_active_at_follows_the_weekly_schedule(client, headers):
    await create_zone(client, headers, feature(name="office hours", schedule=WEEKDAYS))
    overnight = {
        "timezone": "Europe/Zurich",
        "windows": [{"days": ["fri"], "start": "22:00", "end": "02:00"}],
    }
    await create_zone(client, headers, feature(name="friday night", schedule=overnight))
    cases = {
        "2026-06-03T10:00:00+02:00": ["office hours"],  # Wednesday morning, Zurich
        "2026-06-03T08:00:00+02:00": ["office hours"],  # the window's first minute
        "2026-06-03T05:59:59Z": [],  # 07:59:59 in Zurich
        "2026-06-03T16:00:00Z": [],  # 18:00 in Zurich: the end is exclusive
        "2026-06-03T20:00:00+02:00": [],  # Wednesday evening
        "2026-06-06T10:00:00+02:00": [],  # Saturday
        "2026-06-07T10:00:00+02:00": [],  # Sunday
        "2026-06-05T23:00:00+02:00": ["friday night"],
        "2026-06-06T01:30:00+02:00": ["friday night"],  # Saturday, still Friday's night
        "2026-06-06T02:00:00+02:00": [],
        "2026-06-05T21:59:00+02:00": [],
        "2026-06-07T01:00:00+02:00": [],  # Sunday small hours: Saturday had no window
    }
    for at, expected in cases.items():
        assert await listed_names(client, headers, active_at=at) == expected, at


async def test_active_at_needs_an_offset(client, headers):
    r = await client.get(
        "/v1/zones", params={"active_at": "2026-06-03T10:00:00"}, headers=headers["reviewer"]
    )
    assert_problem(r, 422, "query:active_at")
    r = await client.get("/v1/zones", params={"active_at": "soon"}, headers=headers["reviewer"])
    assert_problem(r, 422, "query:active_at")


async def test_paging_visits_every_zone_exactly_once(client, headers):
    names = [f"z{i:02d}" for i in range(11)]
    for name in names:
        await create_zone(client, headers, feature(name=name))

    seen: list[str] = []
    url: str | None = "/v1/zones?limit=4"
    pages = 0
    while url:
        r = await client.get(url, headers=headers["reviewer"])
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [f["properties"]["name"] for f in body["features"]]
        url = body["next"]
        assert body["links"] == ([{"rel": "next", "href": url}] if url else [])
        pages += 1
    assert seen == names
    assert pages == 3

    r = await client.get("/v1/zones", params={"limit": 0}, headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    assert len(r.json()["features"]) == 1
    assert r.json()["next"]
    r = await client.get("/v1/zones", params={"limit": -3}, headers=headers["reviewer"])
    assert len(r.json()["features"]) == 1
    r = await client.get("/v1/zones", params={"limit": 100_000}, headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    assert [f["properties"]["name"] for f in r.json()["features"]] == names
    assert r.json()["next"] is None


async def test_paging_is_clamped_to_the_maximum(client, headers, settings):
    for i in range(3):
        await create_zone(client, headers, feature(name=f"z{i}"))
    r = await client.get("/v1/zones", params={"limit": 10**12}, headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    assert len(r.json()["features"]) == 3
    assert settings.page_limit_max < 10**12


async def test_paging_keeps_the_filters(client, headers):
    for i in range(5):
        await create_zone(client, headers, feature(name=f"w{i}", category="warning"))
        await create_zone(client, headers, feature(name=f"p{i}"))
    seen: list[str] = []
    url: str | None = "/v1/zones?category=warning&limit=2"
    while url:
        body = (await client.get(url, headers=headers["reviewer"])).json()
        seen += [f["properties"]["name"] for f in body["features"]]
        url = body["next"]
    assert seen == [f"w{i}" for i in range(5)]


async def test_bad_cursor_is_422(client, headers):
    r = await client.get("/v1/zones", params={"cursor": "garbage"}, headers=headers["reviewer"])
    assert_problem(r, 422, "query:cursor")


# -------------------------------------------------------------------------------------- edits


async def test_patch_bumps_the_version_and_keeps_the_old_one(client, headers):
    created = await create_zone(client, headers, feature(name="v1", ceiling_m=120))
    zone_id = created["id"]
    r = await client.patch(
        f"/v1/zones/{zone_id}",
        json={"properties": {"name": "v2", "ceiling_m": None, "category": "warning"}},
        headers=headers["operator"],
    )
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["id"] == zone_id
    assert v2["properties"]["version"] == 2
    assert v2["properties"]["name"] == "v2"
    assert v2["properties"]["ceiling_m"] is None
    assert v2["properties"]["category"] == "warning"
    assert v2["properties"]["created_at"] == created["properties"]["created_at"]
    assert v2["properties"]["updated_at"] > created["properties"]["updated_at"]
    assert v2["geometry"] == created["geometry"]

    moved = square(8.6, 47.4)
    r = await client.patch(
        f"/v1/zones/{zone_id}", json={"geometry": moved}, headers=headers["operator"]
    )
    assert r.status_code == 200, r.text
    v3 = r.json()
    assert v3["properties"]["version"] == 3
    assert v3["properties"]["name"] == "v2"
    assert close(v3["geometry"]["coordinates"], moved["coordinates"])
    assert (await client.get(f"/v1/zones/{zone_id}", headers=headers["reviewer"])).json() == v3

    r = await client.get(f"/v1/zones/{zone_id}/versions", headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    versions = r.json()["versions"]
    assert r.json()["zone_id"] == zone_id
    assert [v["properties"]["version"] for v in versions] == [1, 2, 3]
    assert [v["properties"]["name"] for v in versions] == ["v1", "v2", "v2"]
    assert versions[0]["properties"]["ceiling_m"] == 120.0
    assert close(versions[0]["geometry"]["coordinates"], [ZURICH])
    assert close(versions[2]["geometry"]["coordinates"], moved["coordinates"])
    for version, expected in zip(versions, (created, v2, v3), strict=True):
        assert version["recorded_at"]
        assert {k: v for k, v in version.items() if k != "recorded_at"} == expected


async def test_put_replaces_everything(client, headers):
    created = await create_zone(
        client, headers, feature(name="old", ceiling_m=120, authority="FOCA", warning_buffer_m=50)
    )
    zone_id = created["id"]
    replacement = feature({"type": "Point", "coordinates": list(CENTER)}, name="new", radius_m=300)
    r = await client.put(f"/v1/zones/{zone_id}", json=replacement, headers=headers["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["properties"]["version"] == 2
    assert body["geometry"] == {"type": "Point", "coordinates": list(CENTER)}
    assert body["properties"]["radius_m"] == 300.0
    # what PUT leaves out goes back to its default
    assert body["properties"]["ceiling_m"] is None
    assert body["properties"]["authority"] is None
    assert body["properties"]["warning_buffer_m"] == 0.0
    versions = (
        await client.get(f"/v1/zones/{zone_id}/versions", headers=headers["reviewer"])
    ).json()["versions"]
    assert [v["properties"]["name"] for v in versions] == ["old", "new"]
    assert versions[0]["geometry"]["type"] == "Polygon"
    assert "radius_m" not in versions[0]["properties"]


async def test_patch_a_circle(client, headers):
    created = await create_zone(
        client, headers, feature({"type": "Point", "coordinates": list(CENTER)}, radius_m=500)
    )
    url = f"/v1/zones/{created['id']}"
    r = await client.patch(url, json={"properties": {"radius_m": 800}}, headers=headers["operator"])
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["radius_m"] == 800.0
    assert r.json()["geometry"] == created["geometry"]

    moved = {"type": "Point", "coordinates": [8.6, 47.4]}
    r = await client.patch(url, json={"geometry": moved}, headers=headers["operator"])
    assert r.status_code == 200, r.text
    assert r.json()["geometry"] == moved
    assert r.json()["properties"]["radius_m"] == 800.0  # the radius stays

    r = await client.patch(url, json={"geometry": polygon(ZURICH)}, headers=headers["operator"])
    assert r.status_code == 200, r.text
    assert r.json()["geometry"]["type"] == "Polygon"
    assert "radius_m" not in r.json()["properties"]
    assert r.json()["properties"]["version"] == 4


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        pytest.param({"properties": {"ceiling_m": -5}}, "/properties/ceiling_m", id="ceiling"),
        pytest.param({"properties": {"name": ""}}, "/properties/name", id="empty-name"),
        pytest.param({"properties": {"category": "x"}}, "/properties/category", id="category"),
        pytest.param(
            {"properties": {"active_from": "2026-06-03T18:00:00"}},
            "/properties/active_from",
            id="naive",
        ),
        pytest.param({"properties": {"radius_m": 10}}, "/properties/radius_m", id="radius"),
        pytest.param(
            {"geometry": polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]])},
            "/geometry/coordinates/0",
            id="bow-tie",
        ),
    ],
)
async def test_bad_patch_changes_nothing(client, headers, patch, pointer):
    created = await create_zone(client, headers, feature(name="kept"))
    url = f"/v1/zones/{created['id']}"
    r = await client.patch(url, json=patch, headers=headers["operator"])
    assert_problem(r, 422, pointer)
    assert (await client.get(url, headers=headers["reviewer"])).json() == created
    versions = (await client.get(f"{url}/versions", headers=headers["reviewer"])).json()
    assert len(versions["versions"]) == 1


async def test_delete_archives_the_zone(client, headers):
    kept = await create_zone(client, headers, feature(name="kept"))
    gone = await create_zone(client, headers, feature(name="gone"))
    url = f"/v1/zones/{gone['id']}"
    r = await client.delete(url, headers=headers["operator"])
    assert r.status_code == 200, r.text
    archived = r.json()
    assert archived["properties"]["archived_at"]
    assert archived["properties"]["version"] == 2
    assert archived["geometry"] == gone["geometry"]

    got = await client.get(url, headers=headers["reviewer"])
    assert got.status_code == 200
    assert got.json() == archived
    assert await listed_names(client, headers) == ["kept"]
    assert await listed_names(client, headers, active_at="2026-06-03T10:00:00Z") == ["kept"]
    assert await listed_names(client, headers, bbox="8,47,9,48") == ["kept"]
    assert await listed_names(client, headers, include_archived="true") == ["kept", "gone"]
    assert await listed_names(
        client, headers, include_archived="true", active_at="2026-06-03T10:00:00Z"
    ) == ["kept"]
    versions = (await client.get(f"{url}/versions", headers=headers["reviewer"])).json()
    assert [v["properties"]["archived_at"] for v in versions["versions"]] == [
        None,
        archived["properties"]["archived_at"],
    ]

    # archiving again changes nothing; editing an archived zone is a conflict
    again = await client.delete(url, headers=headers["operator"])
    assert again.status_code == 200
    assert again.json() == archived
    r = await client.patch(url, json={"properties": {"name": "x"}}, headers=headers["operator"])
    assert_problem(r, 409, detail="archived")
    r = await client.put(url, json=feature(name="x"), headers=headers["operator"])
    assert_problem(r, 409, detail="archived")
    assert (await client.get(url, headers=headers["reviewer"])).json() == archived
    assert kept["properties"]["archived_at"] is None


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/versions", None),
        ("PATCH", "", {"properties": {"name": "x"}}),
        ("PUT", "", feature()),
        ("DELETE", "", None),
    ],
)
async def test_unknown_zone_is_404(client, headers, method, suffix, body):
    missing = uuid.uuid4()
    r = await client.request(
        method, f"/v1/zones/{missing}{suffix}", json=body, headers=headers["operator"]
    )
    assert_problem(r, 404, detail=str(missing))


async def test_zone_id_must_be_a_uuid(client, headers):
    r = await client.get("/v1/zones/not-a-uuid", headers=headers["operator"])
    assert_problem(r, 422, "path:zone_id")
