"""Statistics through the API: per district, trend buckets, the heatmap grid, zone anomalies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import Point, shape

from tests.api.test_alerting import draw, post

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
T0 = NOW - timedelta(minutes=30)
PROBLEM = "application/problem+json"


def at(seconds, lon, lat, serial):
    time = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": lat, "height_m": 50.0}


def square(west, south, size=0.02):
    east, north = round(west + size, 6), round(south + size, 6)
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


async def get(client, headers, url, **params):
    params = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items()}
    r = await client.get(url, params=params, headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    return r.json()


async def bad(client, headers, url, **params):
    """The pointer of the 422 problem the parameters give."""
    params = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items()}
    r = await client.get(url, params=params, headers=headers["reviewer"])
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    return r.json()["pointer"]


# Drone A (seen only in telemetry) flies twice in district "One" (the gap between is over the
# flight gap), the first time through the zone; drone B (registered) flies in "Two"; C flies
# outside every district; D flew in "One" before the window. "Three" sees nothing.
REPORTS = [
    *(at(s, lon, 47.305, "SG-A") for s, lon in ((0, 8.495), (10, 8.505), (20, 8.515))),
    *(at(600 + s, 8.505, 47.315, "SG-A") for s in (0, 10, 20)),
    at(0, 8.605, 47.305, "SG-B"),
    at(10, 8.606, 47.306, "SG-B"),
    at(0, 8.40, 47.40, "SG-C"),
    at(-7200, 8.51, 47.31, "SG-D"),
]


@pytest.fixture
async def scene(client, headers):
    """Districts One, Two and Three, a zone inside One, and the reports above."""
    for name, west in (("One", 8.49), ("Two", 8.59), ("Three", 8.69)):
        feature = {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": square(west, 47.30)},
            "properties": {"name": name},
        }
        r = await client.post("/v1/districts", json=feature, headers=headers["operator"])
        assert r.status_code == 201, r.text
    await draw(client, headers)  # 8.50..8.51, 47.30..47.31: inside One
    r = await client.post("/v1/drones", json={"serial": "SG-B"}, headers=headers["operator"])
    assert r.status_code == 201
    await post(client, headers, *REPORTS)


async def test_district_stats_count_flights_drones_and_alerts(client, headers, scene):
    body = await get(client, headers, "/v1/stats/districts", since=T0 - timedelta(minutes=1))
    by_name = {
        d["name"]: {k: v for k, v in d.items() if k not in ("id", "code")}
        for d in body["districts"]
    }
    assert by_name == {
        "One": {"name": "One", "flights": 2, "drones": 1, "unregistered_drones": 1, "alerts": 1},
        "Three": {
            "name": "Three",
            "flights": 0,
            "drones": 0,
            "unregistered_drones": 0,
            "alerts": 0,
        },
        "Two": {"name": "Two", "flights": 1, "drones": 1, "unregistered_drones": 0, "alerts": 0},
    }
    assert [d["name"] for d in body["districts"]] == ["One", "Three", "Two"]
    wider = await get(client, headers, "/v1/stats/districts", since=T0 - timedelta(hours=3))
    one = next(d for d in wider["districts"] if d["name"] == "One")
    assert (one["drones"], one["flights"]) == (2, 3)  # SG-D and its flight now count


async def test_trend_lists_every_bucket_with_zeros(client, headers, scene):
    since = T0 - timedelta(hours=5)
    body = await get(client, headers, "/v1/stats/trend", bucket="hour", since=since, until=NOW)
    starts = [datetime.fromisoformat(b["start"]) for b in body["buckets"]]
    first = since.replace(minute=0)
    assert starts[0] == first
    assert starts == [first + timedelta(hours=k) for k in range(len(starts))]
    assert starts[-1] <= NOW - timedelta(microseconds=1) < starts[-1] + timedelta(hours=1)
    assert sum(b["flights"] for b in body["buckets"]) == 5  # A twice, B, C and D once
    assert sum(b["alerts"] for b in body["buckets"]) == 2  # A's, and D's on the zone's corner
    assert [b for b in body["buckets"] if b["flights"] == b["alerts"] == 0]  # zeros are listed
    t0_hour = T0.replace(minute=0).isoformat().replace("+00:00", "Z")
    assert next(b for b in body["buckets"] if b["start"] == t0_hour)["alerts"] == 1
    days = await get(
        client, headers, "/v1/stats/trend", bucket="day", since=NOW - timedelta(days=3), until=NOW
    )
    last_day = (NOW - timedelta(microseconds=1)).date()
    assert len(days["buckets"]) == (last_day - (NOW - timedelta(days=3)).date()).days + 1
    assert all(b["start"].endswith("T00:00:00Z") for b in days["buckets"])
    assert sum(b["flights"] for b in days["buckets"]) == 5


async def test_trend_parameters(client, headers):
    url = "/v1/stats/trend"
    assert await bad(client, headers, url, bucket="week") == "query:bucket"
    assert await bad(client, headers, url, since=NOW - timedelta(days=800)) == "query:bucket"
    assert await bad(client, headers, url, since=NOW, until=NOW) == "query:until"


async def test_heatmap_counts_add_up_to_the_reports_in_the_box(client, headers, scene):
    box = "8.48,47.29,8.62,47.33"  # A's and B's reports; not C's
    body = await get(
        client, headers, "/v1/stats/heatmap", bbox=box, cell_m=500, since=T0 - timedelta(hours=3)
    )
    assert body["type"] == "FeatureCollection"
    assert body["projection"].startswith("+proj=laea +lat_0=47 +lon_0=9 ")
    counts = [f["properties"]["count"] for f in body["features"]]
    assert sum(counts) == body["total"] == 9  # A: 6, B: 2, D: 1
    assert all(c > 0 for c in counts)
    for report in REPORTS:
        if report["serial"] == "SG-C":
            continue
        point = Point(report["lon"], report["lat"])
        holding = [f for f in body["features"] if shape(f["geometry"]).buffer(1e-9).covers(point)]
        assert holding, report
    ring = body["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    recent = await get(client, headers, "/v1/stats/heatmap", bbox=box, cell_m=100_000, since=T0)
    assert [f["properties"]["count"] for f in recent["features"]] == [8]  # one big cell; no D


async def test_a_heatmap_across_the_antimeridian(client, headers):
    reports = [
        {"serial": f"SG-{lon}", "time": T0.isoformat(), "lon": lon, "lat": 0.5}
        for lon in (179.99, 179.995, -179.99, 0.0)
    ]
    await post(client, headers, *reports)
    body = await get(
        client, headers, "/v1/stats/heatmap", bbox="179.9,0,-179.9,1", cell_m=5000, since=T0
    )
    assert body["total"] == 3
    assert sorted(f["properties"]["count"] for f in body["features"]) == [1, 2]


async def test_heatmap_parameters(client, headers):
    url = "/v1/stats/heatmap"
    assert await bad(client, headers, url) == "query:bbox"
    assert await bad(client, headers, url, bbox="8,47,9,48", cell_m=10) == "query:cell_m"
    assert await bad(client, headers, url, bbox="8,47,9,48", cell_m=25) == "query:cell_m"
    assert await bad(client, headers, url, bbox="0,40,30,48") == "query:bbox"
    assert await bad(client, headers, url, bbox="170,0,-169,1") == "query:bbox"  # 21° across 180
    r = await client.get(f"{url}?bbox=8,47,9,48", headers=headers["integrator"])
    assert r.status_code == 403


async def test_a_zone_far_above_its_baseline_is_anomalous_and_a_steady_one_is_not(client, headers):
    steady = await draw(client, headers, square(8.50, 47.30, 0.01), name="steady")
    spiking = await draw(client, headers, square(8.60, 47.30, 0.01), name="spiking")
    fresh = await draw(client, headers, square(8.70, 47.30, 0.01), name="fresh")
    quiet = await draw(client, headers, square(8.80, 47.30, 0.01), name="quiet")

    def inside(zone_lon, minutes_ago, n):
        time = (NOW - timedelta(minutes=minutes_ago)).isoformat()
        serial = f"SG-{zone_lon}-{minutes_ago}-{n}"
        return {"serial": serial, "time": time, "lon": zone_lon + 0.005, "lat": 47.305}

    reports = [inside(8.50, 30 + 60 * hour, n) for hour in range(25) for n in range(2)]
    reports += [inside(8.60, 600, 0)] + [inside(8.60, 10 + n, 0) for n in range(6)]
    reports += [inside(8.70, 20 + n, 0) for n in range(3)]
    reports += [inside(8.80, 20 + n, 0) for n in range(2)]
    await post(client, headers, *reports)

    url = "/v1/stats/zones/anomalies"
    body = await get(
        client, headers, url, since=NOW - timedelta(hours=1), until=NOW, baseline_days=1
    )
    assert body["baseline_windows"] == 24
    by_id = {z["zone_id"]: z for z in body["zones"]}
    assert by_id[steady]["alerts"] == 2
    assert by_id[steady]["baseline_mean"] == pytest.approx(2.0)
    assert by_id[steady]["baseline_stddev"] == pytest.approx(0.0)
    assert by_id[steady]["anomalous"] is False
    assert by_id[spiking]["alerts"] == 6 and by_id[spiking]["anomalous"] is True
    assert by_id[spiking]["baseline_mean"] == pytest.approx(1 / 24)
    assert by_id[fresh]["alerts"] == 3 and by_id[fresh]["baseline_mean"] == 0
    assert by_id[fresh]["anomalous"] is True  # no baseline and several alerts
    assert by_id[quiet]["anomalous"] is False  # two is not several
    assert body["zones"][0]["zone_id"] == spiking  # highest z-score first
    strict = await get(
        client,
        headers,
        url,
        since=NOW - timedelta(hours=1),
        until=NOW,
        baseline_days=1,
        threshold=10,
    )
    assert not any(z["anomalous"] for z in strict["zones"])


async def test_anomaly_parameters(client, headers):
    url = "/v1/stats/zones/anomalies"
    assert await bad(client, headers, url, baseline_days=0) == "query:baseline_days"
    week = {"since": NOW - timedelta(days=7), "until": NOW}
    assert await bad(client, headers, url, baseline_days=3, **week) == "query:baseline_days"
    assert await bad(client, headers, url, threshold=0) == "query:threshold"


async def test_stats_roles(client, headers):
    for url in ("/v1/stats/districts", "/v1/stats/trend", "/v1/stats/zones/anomalies"):
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers=headers["integrator"])).status_code == 403
        for role in ("operator", "reviewer", "admin"):
            assert (await client.get(url, headers=headers[role])).status_code == 200


async def test_anomalies_count_one_kind_of_alert_when_asked(client, headers):
    zone = await draw(client, headers, square(8.90, 47.30, 0.01), warning_buffer_m=300.0)

    def at(lon, n):
        time = (NOW - timedelta(minutes=5 + n)).isoformat()
        return {"serial": f"SG-KIND-{lon}-{n}", "time": time, "lon": lon, "lat": 47.305}

    inside = [at(8.905, n) for n in range(3)]
    buffered = [at(8.898, n) for n in range(2)]  # about 150 m west of the zone: its buffer
    await post(client, headers, *inside, *buffered)
    url = "/v1/stats/zones/anomalies"
    window = {"since": NOW - timedelta(hours=1), "until": NOW, "baseline_days": 1}
    counted = {}
    for kind in (None, "breach", "approach"):
        body = await get(client, headers, url, **window, **({"kind": kind} if kind else {}))
        assert body["kind"] == kind
        counted[kind] = {z["zone_id"]: z["alerts"] for z in body["zones"]}[zone]
    assert counted == {None: 5, "breach": 3, "approach": 2}
    assert await bad(client, headers, url, kind="landing") == "query:kind"
