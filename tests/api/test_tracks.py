"""Tracks and flights through the API: flights split by gaps, launch points that every alert
carries, GeoJSON and CSV exports that round-trip, simplification, retention of old days."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from pyproj import Geod
from sqlalchemy import text

from skyguard.alerts.expiry import expire_once
from skyguard.store.partitions import drop_before, position_days
from tests.api.test_alerting import draw

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
GEOD = Geod(ellps="WGS84")
HOME = (8.5400, 47.3700)  # where the pilot stands


def at(seconds: float, lon: float, lat: float, serial: str = "TRK-1", **extra: Any):
    time = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": lat, **extra}


def outbound(start_s: float, count: int, serial: str = "TRK-1", **extra: Any) -> list[dict]:
    """A flight from HOME: on the ground for 5 s, climbing 2 m/s while flying east 5 m/s."""
    reports = []
    for i in range(count):
        moving = max(0, i - 5)
        lon, lat, _ = GEOD.fwd(HOME[0], HOME[1], 90.0, 5.0 * moving)
        height = min(2.0 * moving, 60.0)
        reports.append(
            at(start_s + i, lon, lat, serial, alt_m=400.0 + height, height_m=height, **extra)
        )
    return reports


async def post(client, headers, reports):
    r = await client.post("/v1/telemetry", json={"reports": reports}, headers=headers["integrator"])
    assert r.status_code == 200, r.text
    return r.json()


async def get(client, headers, path, **params):
    r = await client.get(path, params=params, headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    return r


async def test_a_gap_longer_than_the_setting_splits_flights(client, headers):
    await post(client, headers, outbound(0, 60))
    await post(client, headers, outbound(60 + 300, 40))  # 300 s later: over the 120 s gap
    body = (await get(client, headers, "/v1/drones/TRK-1/flights")).json()
    second, first = body["flights"]  # newest first
    assert first["report_count"] == 60 and second["report_count"] == 40
    assert first["in_progress"] is False and second["in_progress"] is True
    assert first["duration_s"] == 59.0 and second["duration_s"] == 39.0
    assert first["max_height_m"] == 60.0
    assert abs(first["distance_m"] - 5.0 * 54) < 0.5
    assert first["launch_point"]["method"] == "ground_start"
    assert _metres(first["launch_point"], HOME) < 1.0
    assert first["landing_point"] is None  # it ended in the air, 60 m up


async def test_one_batch_with_gaps_closes_the_open_flight_and_opens_new_ones(client, headers):
    await post(client, headers, outbound(0, 10))
    await post(client, headers, outbound(400, 10) + outbound(800, 10) + outbound(1200, 10))
    body = (await get(client, headers, "/v1/drones/TRK-1/flights")).json()
    assert [f["in_progress"] for f in body["flights"]] == [True, False, False, False]
    assert [f["report_count"] for f in body["flights"]] == [10, 10, 10, 10]


async def test_flights_page_and_filter_by_time(client, headers):
    for k in range(3):
        await post(client, headers, outbound(k * 400, 10))
    r = await get(client, headers, "/v1/drones/TRK-1/flights", limit=2)
    page = r.json()
    assert len(page["flights"]) == 2 and page["next"]
    rest = (await client.get(page["next"], headers=headers["reviewer"])).json()
    starts = [f["started_at"] for f in page["flights"] + rest["flights"]]
    assert len(starts) == 3 and starts == sorted(starts, reverse=True)
    since = (T0 + timedelta(seconds=300)).isoformat()
    later = (await get(client, headers, "/v1/drones/TRK-1/flights", since=since)).json()
    assert len(later["flights"]) == 2


async def test_the_operator_location_is_used_when_the_source_reports_it(client, headers):
    pilot = GEOD.fwd(HOME[0], HOME[1], 200.0, 150.0)[:2]
    reports = [
        {k: v for k, v in r.items() if k != "height_m"}  # first seen in the air: no height
        for r in outbound(0, 40, operator_lon=pilot[0], operator_lat=pilot[1], accuracy_m=3.0)
    ][20:]
    await post(client, headers, reports)
    [flight] = (await get(client, headers, "/v1/drones/TRK-1/flights")).json()["flights"]
    assert flight["launch_point"]["method"] == "operator_location"
    assert _metres(flight["launch_point"], pilot) < 1.0


async def test_every_alert_carries_its_flights_current_launch_point(client, headers):
    zone = [[[8.5420, 47.3690], [8.5440, 47.3690], [8.5440, 47.3710], [8.5420, 47.3710]]]
    zone[0].append(zone[0][0])
    await draw(client, headers, zone)
    result = await post(client, headers, outbound(0, 60))
    [alert] = result["alerts"]
    assert alert["flight_id"] and alert["launch_point"]["method"] == "ground_start"
    read = await get(client, headers, f"/v1/alerts/{alert['id']}")
    assert read.json()["launch_point"] == alert["launch_point"]
    flight = (await get(client, headers, f"/v1/flights/{alert['flight_id']}")).json()
    assert [a["id"] for a in flight["alerts"]] == [alert["id"]]
    assert flight["launch_point"] == alert["launch_point"]


async def test_expiry_closes_a_silent_flight_and_reads_its_landing(app, client, headers):
    up = outbound(0, 40)
    back = [
        at(
            40 + i,
            *GEOD.fwd(HOME[0], HOME[1], 90.0, 5.0 * (34 - i))[:2],
            height_m=30.0,
            alt_m=430.0,
        )
        for i in range(35)
    ]
    down = [
        at(
            75 + i,
            HOME[0],
            HOME[1],
            height_m=max(0.0, 30.0 - 3 * i),
            alt_m=400 + max(0, 30 - 3 * i),
        )
        for i in range(20)
    ]
    await post(client, headers, up + back + down)
    [flight] = (await get(client, headers, "/v1/drones/TRK-1/flights")).json()["flights"]
    assert flight["in_progress"] is True
    expired = await expire_once(app.state.db, app.state.engine, T0 + timedelta(seconds=500))
    assert expired.flights_closed == 1
    [flight] = (await get(client, headers, "/v1/drones/TRK-1/flights")).json()["flights"]
    assert flight["in_progress"] is False
    assert _metres(flight["landing_point"], HOME) < 5.0


async def test_a_late_report_is_history_only(client, headers):
    await post(client, headers, outbound(0, 30))
    await post(client, headers, [at(-100, 8.0, 47.0)])  # long before, far away
    [flight] = (await get(client, headers, "/v1/drones/TRK-1/flights")).json()["flights"]
    assert flight["report_count"] == 30
    track = (await get(client, headers, "/v1/drones/TRK-1/track")).json()
    assert sum(len(f["properties"]["times"]) for f in track["features"]) == 31


async def test_geojson_track_has_a_line_per_flight_with_times_and_round_trips(client, headers):
    sent = outbound(0, 30) + outbound(400, 20)
    await post(client, headers, sent)
    track = (await get(client, headers, "/v1/drones/TRK-1/track")).json()
    flights = (await get(client, headers, "/v1/drones/TRK-1/flights")).json()["flights"]
    assert track["type"] == "FeatureCollection"
    lines = track["features"]
    assert [f["geometry"]["type"] for f in lines] == ["LineString", "LineString"]
    assert [f["properties"]["flight_id"] for f in lines] == [f["id"] for f in reversed(flights)]
    back = [
        {
            "serial": p["serial"],
            "time": p["times"][i],
            "lon": lon,
            "lat": lat,
            "alt_m": p["alt_m"][i],
            "height_m": p["height_m"][i],
        }
        for f in lines
        for p in [f["properties"]]
        for i, (lon, lat) in enumerate(f["geometry"]["coordinates"])
    ]
    assert [_key(r) for r in back] == [_key(r) for r in sent]


async def test_geojson_points_list_every_report(client, headers):
    await post(client, headers, outbound(0, 12))
    r = await get(client, headers, "/v1/drones/TRK-1/track", geometry="points")
    assert r.headers["content-type"].startswith("application/geo+json")
    features = r.json()["features"]
    assert len(features) == 12
    assert {f["geometry"]["type"] for f in features} == {"Point"}
    assert features[0]["properties"]["height_m"] == 0.0


async def test_csv_export_round_trips_through_telemetry(client, headers):
    await post(client, headers, outbound(0, 25, speed_mps=5.0, source="rid"))
    r = await get(client, headers, "/v1/drones/TRK-1/track", format="csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 25 and rows[0]["time"].endswith("Z")
    reports = [_from_csv_row(row, serial="TRK-COPY") for row in rows]
    assert (await post(client, headers, reports))["accepted"] == 25
    copy = await get(client, headers, "/v1/drones/TRK-COPY/track", format="csv")
    copied = list(csv.DictReader(io.StringIO(copy.text)))
    strip = ("serial", "flight_id")
    assert [{k: v for k, v in row.items() if k not in strip} for row in copied] == [
        {k: v for k, v in row.items() if k not in strip} for row in rows
    ]


async def test_tolerance_keeps_only_the_turns(client, headers):
    leg = [at(i, *GEOD.fwd(HOME[0], HOME[1], 90.0, 10.0 * i)[:2]) for i in range(50)]
    corner = GEOD.fwd(HOME[0], HOME[1], 90.0, 490.0)[:2]
    back = [at(50 + i, *GEOD.fwd(*corner, 0.0, 10.0 * (i + 1))[:2]) for i in range(50)]
    await post(client, headers, leg + back)
    track = (await get(client, headers, "/v1/drones/TRK-1/track", tolerance_m=2)).json()
    [line] = track["features"]
    assert len(line["geometry"]["coordinates"]) == 3
    assert line["properties"]["times"][1] == leg[-1]["time"].replace("+00:00", "Z")


async def test_track_errors(app, client, headers, monkeypatch):
    r = await client.get("/v1/drones/NOPE/track", headers=headers["reviewer"])
    assert r.status_code == 404
    await post(client, headers, outbound(0, 10))
    r = await client.get(
        "/v1/drones/TRK-1/track",
        params={"since": T0.isoformat(), "until": T0.isoformat()},
        headers=headers["reviewer"],
    )
    assert r.status_code == 422 and r.json()["pointer"] == "query:until"
    r = await client.get("/v1/drones/TRK-1/track?format=kml", headers=headers["reviewer"])
    assert r.status_code == 422 and r.json()["pointer"] == "query:format"
    monkeypatch.setattr(app.state.settings, "track_max_points", 5)
    r = await client.get("/v1/drones/TRK-1/track", headers=headers["reviewer"])
    assert r.status_code == 422 and "narrow" in r.json()["detail"]
    r = await client.get("/v1/drones/TRK-1/track", headers=headers["integrator"])
    assert r.status_code == 403


async def test_retention_drops_whole_old_days_only(app, client, headers, connection):
    old = datetime.now(UTC) - timedelta(days=10)
    await post(
        client, headers, [{"serial": "OLD", "time": old.isoformat(), "lon": 8.5, "lat": 47.3}]
    )
    await post(client, headers, outbound(0, 5))
    async with app.state.db.session() as session:
        days = await position_days(session)
        assert old.date() in days
        dropped = await drop_before(session, datetime.now(UTC) - timedelta(days=5))
        assert days[old.date()] in dropped
        assert old.date() not in await position_days(session)
    count = await connection.scalar(text("SELECT count(*) FROM positions"))
    assert count == 5


def _metres(point: dict[str, Any], where: tuple[float, float]) -> float:
    return float(GEOD.inv(point["lon"], point["lat"], where[0], where[1])[2])


def _key(report: dict[str, Any]) -> tuple:
    time = datetime.fromisoformat(report["time"].replace("Z", "+00:00"))
    return (time, report["lon"], report["lat"], report["alt_m"], report["height_m"])


def _from_csv_row(row: dict[str, str], serial: str) -> dict[str, Any]:
    report: dict[str, Any] = {"serial": serial, "time": row["time"]}
    for name, value in row.items():
        if name in ("serial", "time", "flight_id") or value == "":
            continue
        report[name] = value if name == "source" else float(value)
    assert math.isfinite(report["lon"])
    return report
