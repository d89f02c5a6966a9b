"""The reviewer requests the history benchmark times, with parameters picked from the data, and
how each response's size is counted."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, text

from skyguard.bench.history_data import CITY_BOX
from skyguard.bench.history_sql import METRES_PER_DEGREE
from skyguard.store.zones import iso_utc

BUSIEST_FLIGHT = text("""
SELECT f.id, f.serial, f.started_at, f.first_lon, f.first_lat
FROM flights f LEFT JOIN alerts a ON a.flight_id = f.id
WHERE f.started_at >= :since AND f.ended_at < :until
GROUP BY f.id
ORDER BY count(a.id) DESC, f.report_count DESC, f.id
LIMIT 1
""")

# The zone with the most reports inside it that day: its intrusion answer is not empty.
BUSIEST_ZONE = text("""
SELECT z.id
FROM zones z
CROSS JOIN LATERAL (
    SELECT count(*) AS reports FROM positions p
    WHERE p.geom && z.geom AND ST_Covers(z.geom, p.geom)
      AND p.time >= :since AND p.time < :until
) inside
ORDER BY inside.reports DESC, z.id
LIMIT 1
""")


@dataclass(frozen=True)
class Case:
    """One request to time: what it asks, and how its answer is counted."""

    name: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    counter: str = "json"


@dataclass(frozen=True)
class Picks:
    """What the requests are about: a drone and its flight, a zone, a day and an hour."""

    serial: str
    flight_id: str
    zone_id: str
    day: datetime
    hour: datetime
    centre: tuple[float, float]
    end: datetime


def pick(conn: Connection, end: datetime) -> Picks:
    """A busy flight (most alerts) and zone (most reports inside) on the last whole UTC day."""
    day = (end - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    window = {"since": day, "until": day + timedelta(days=1)}
    flight = conn.execute(BUSIEST_FLIGHT, window).one()
    zone_id = conn.execute(BUSIEST_ZONE, window).scalar_one()
    hour = flight.started_at.replace(minute=0, second=0, microsecond=0)
    centre = (flight.first_lon, flight.first_lat)
    return Picks(flight.serial, str(flight.id), str(zone_id), day, hour, centre, end)


def box_around(lon: float, lat: float, half_m: float) -> str:
    """A bbox parameter half_m metres each way of a point."""
    dlat = half_m / METRES_PER_DEGREE
    dlon = dlat / math.cos(math.radians(lat))
    return f"{lon - dlon:.6f},{lat - dlat:.6f},{lon + dlon:.6f},{lat + dlat:.6f}"


def window(since: datetime, length: timedelta) -> dict[str, str]:
    """since/until parameters as RFC 3339 UTC."""
    return {"since": iso_utc(since) or "", "until": iso_utc(since + length) or ""}


def drone_cases(p: Picks) -> list[Case]:
    """One drone's track and flights, one flight, one zone's intrusions."""
    day = window(p.day, timedelta(days=1))
    drone = f"/v1/drones/{p.serial}"
    return [
        Case("track, one drone, one day (GeoJSON)", f"{drone}/track", day, "track"),
        Case("track, one drone, one day (CSV)", f"{drone}/track", {**day, "format": "csv"}, "csv"),
        Case("flights of one drone", f"{drone}/flights", {}, "flights"),
        Case("one flight with its alerts", f"/v1/flights/{p.flight_id}", {}, "flight"),
        Case("intrusions, one zone, one day", f"/v1/zones/{p.zone_id}/intrusions", day, "intr"),
    ]


def area_cases(p: Picks) -> list[Case]:
    """Reports in boxes, and the statistics."""
    day, hour = window(p.day, timedelta(days=1)), window(p.hour, timedelta(hours=1))
    west, south, east, north = CITY_BOX
    heatmap = {"bbox": f"{west},{south},{east},{north}", "cell_m": "500"}
    small = {**hour, "bbox": box_around(*p.centre, 500.0), "limit": "1000"}
    large = {**day, "bbox": box_around((west + east) / 2, (south + north) / 2, 5_000.0)}
    week = {**window(p.end - timedelta(days=7), timedelta(days=7)), "bucket": "hour"}
    last_day = {**window(p.end - timedelta(days=1), timedelta(days=1)), "baseline_days": "28"}
    return [
        Case("positions, 1 km box, one hour (limit 1000)", "/v1/positions", small, "positions"),
        Case(
            "positions, 10 km box, one day (first page of 100)", "/v1/positions", large, "positions"
        ),
        Case("district stats, one day", "/v1/stats/districts", day, "districts"),
        Case("trend per hour, 7 days", "/v1/stats/trend", week, "trend"),
        Case("heatmap 500 m, city, one hour", "/v1/stats/heatmap", {**heatmap, **hour}, "heatmap"),
        Case("heatmap 500 m, city, one day", "/v1/stats/heatmap", {**heatmap, **day}, "heatmap"),
        Case(
            "zone anomalies, last day vs 28 days",
            "/v1/stats/zones/anomalies",
            last_day,
            "anomalies",
        ),
    ]


def cases(p: Picks) -> list[Case]:
    """Every reviewer request the issue asks to time, in report order."""
    return [*drone_cases(p), *area_cases(p)]


def _pages(body: dict[str, Any]) -> str:
    return ", more pages" if body.get("next") else ""


def _track(r: httpx.Response) -> tuple[int, str]:
    features = r.json()["features"]
    reports = sum(len(f["properties"]["times"]) for f in features)
    return reports, f"{len(features)} flight line(s), {reports:,} reports"


def _csv(r: httpx.Response) -> tuple[int, str]:
    rows = max(0, len(r.text.splitlines()) - 1)
    return rows, f"{rows:,} CSV rows"


def _listed(key: str, noun: str) -> Callable[[httpx.Response], tuple[int, str]]:
    def count(r: httpx.Response) -> tuple[int, str]:
        body = r.json()
        return len(body[key]), f"{len(body[key]):,} {noun}{_pages(body)}"

    return count


def _flight(r: httpx.Response) -> tuple[int, str]:
    body = r.json()
    return 1, f"1 flight ({body['report_count']:,} reports), {len(body['alerts'])} alerts"


def _districts(r: httpx.Response) -> tuple[int, str]:
    rows = r.json()["districts"]
    flights = sum(d["flights"] for d in rows)
    return len(rows), f"{len(rows)} districts, {flights:,} flight-district pairs"


def _trend(r: httpx.Response) -> tuple[int, str]:
    rows = r.json()["buckets"]
    flights, alerts = sum(b["flights"] for b in rows), sum(b["alerts"] for b in rows)
    return len(rows), f"{len(rows)} buckets, {flights:,} flights, {alerts:,} alerts"


def _heatmap(r: httpx.Response) -> tuple[int, str]:
    body = r.json()
    return len(body["features"]), f"{len(body['features']):,} cells, {body['total']:,} reports"


def _anomalies(r: httpx.Response) -> tuple[int, str]:
    zones = r.json()["zones"]
    flagged = sum(1 for z in zones if z["anomalous"])
    return len(zones), f"{len(zones)} zones, {flagged} anomalous"


COUNTERS: dict[str, Callable[[httpx.Response], tuple[int, str]]] = {
    "track": _track,
    "csv": _csv,
    "flights": _listed("flights", "flights"),
    "flight": _flight,
    "intr": _listed("intrusions", "intrusions"),
    "positions": _listed("positions", "reports"),
    "districts": _districts,
    "trend": _trend,
    "heatmap": _heatmap,
    "anomalies": _anomalies,
}


def count(case: Case, response: httpx.Response) -> tuple[int, str]:
    """How many rows or features the response holds, and in words."""
    return COUNTERS[case.counter](response)
