"""Arm 3: a PostGIS-only baseline, as a straightforward service would do it.

Per report, one transaction: INSERT the report into a positions table (GiST on its point, a
btree on serial and time, as skyguard keeps its history), then `SELECT ... WHERE
ST_Covers(zone, point)` over a GiST-indexed table of the same zone geometries, with the zones'
band and active window as a flag beside each hit (schedules and exemptions are left out: a
straightforward service would not have them). N asyncio psycopg connections, synchronous commit,
the stream in order until it ends or the time cap passes. The zones each report fell in are a
second oracle (PostGIS against shapely) for the reports it processed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import psycopg
import shapely

from skyguard.bench.ingest_compare import CoverComparison, compare_covers
from skyguard.bench.ingest_meter import PgWatch, Usage, metered
from skyguard.bench.ingest_oracle import Verdicts, covered_pairs
from skyguard.bench.ingest_server import DatabaseServer
from skyguard.bench.ingest_workload import Workload, serial

PREFIX = "PG"
SCHEMA = (
    "CREATE EXTENSION IF NOT EXISTS postgis",
    """CREATE TABLE bench_zones (
        id integer PRIMARY KEY, geom geometry(MultiPolygon, 4326) NOT NULL,
        floor_m double precision NOT NULL, ceiling_m double precision, altitude_ref text NOT NULL,
        active_from timestamptz, active_until timestamptz)""",
    "CREATE INDEX ON bench_zones USING gist (geom)",
    """CREATE TABLE bench_positions (
        id bigserial PRIMARY KEY, serial text NOT NULL, time timestamptz NOT NULL,
        lon double precision NOT NULL, lat double precision NOT NULL,
        alt_m double precision, height_m double precision, geom geometry(Point, 4326) NOT NULL)""",
    "CREATE INDEX ON bench_positions USING gist (geom)",
    "CREATE INDEX ON bench_positions (serial, time)",
)
INSERT_ZONE = """
INSERT INTO bench_zones VALUES (%s, ST_Multi(ST_GeomFromWKB(%s, 4326)), %s, %s, %s, %s, %s)
"""
INSERT_REPORT = """
INSERT INTO bench_positions (serial, time, lon, lat, alt_m, height_m, geom)
VALUES (%(serial)s, %(time)s, %(lon)s, %(lat)s, %(alt)s, %(height)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
"""
# An unknown altitude counts as inside the band (as skyguard decides).
COVERING = """
SELECT id,
       (floor_m <= 0 OR coalesce(CASE altitude_ref WHEN 'AGL' THEN %(height)s::float8
                                                   ELSE %(alt)s::float8 END >= floor_m, true))
   AND (ceiling_m IS NULL OR coalesce(CASE altitude_ref WHEN 'AGL' THEN %(height)s::float8
                                                       ELSE %(alt)s::float8 END <= ceiling_m, true))
   AND (active_from IS NULL OR active_from <= %(time)s)
   AND (active_until IS NULL OR %(time)s < active_until) AS alerting
FROM bench_zones WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
"""


@dataclass
class BaselineRun:
    """What the baseline processed, how fast, and how PostGIS agreed with shapely."""

    database: str
    connections: int
    reports: int
    wall_s: float
    usage: Usage
    alerting_hits: int = 0  # covered with band and window holding
    covers: CoverComparison | None = None

    @property
    def rate(self) -> float:
        """Reports a second."""
        return self.reports / self.wall_s if self.wall_s else 0.0


def create_schema(dsn: str, workload: Workload) -> None:
    """The two tables, their indexes and the zones."""
    with psycopg.connect(dsn) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        with conn.cursor() as cur:
            cur.executemany(
                INSERT_ZONE, [_zone_row(workload, i) for i in range(len(workload.zones))]
            )
        conn.execute("ANALYZE bench_zones")


def _zone_row(workload: Workload, i: int) -> tuple[object, ...]:
    p = workload.zones[i].feature["properties"]
    return (
        i, shapely.to_wkb(workload.shapes[i]), p.get("floor_m") or 0.0, p.get("ceiling_m"),
        p["altitude_ref"], p.get("active_from"), p.get("active_until"),
    )  # fmt: skip


def _params(workload: Workload, index: int) -> dict[str, object]:
    s = workload.stream
    height = float(s.height_m[index])
    return {
        "serial": serial(PREFIX, int(s.drone[index])),
        "time": workload.t0 + timedelta(microseconds=int(s.t_us[index])),
        "lon": float(s.lon[index]),
        "lat": float(s.lat[index]),
        "alt": float(s.alt_m[index]),
        "height": None if np.isnan(height) else height,
    }


Hit = tuple[int, int, bool]  # report, zone, whether band and window hold


async def _worker(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    workload: Workload,
    next_index: Callable[[], int | None],
    hits: list[Hit],
    done: list[int],
) -> None:
    """One connection: report after report, each in its own transaction."""
    while (index := next_index()) is not None:
        params = _params(workload, index)
        async with conn.transaction():
            await conn.execute(INSERT_REPORT, params)
            rows = await (await conn.execute(COVERING, params)).fetchall()
        hits.extend((index, int(str(zone)), bool(alerting)) for zone, alerting in rows)
        done.append(index)


async def run_baseline(
    workload: Workload,
    verdicts: Verdicts,
    db: DatabaseServer,
    name: str,
    connections: int,
    cap_s: float,
) -> BaselineRun:
    """Load the zones into a fresh database, then run the stream through the baseline."""
    db.recreate(name)
    dsn = db.dsn_of(name)
    create_schema(dsn, workload)
    hits: list[Hit] = []
    done: list[int] = []
    counter = iter(range(len(workload.stream)))
    pool = [await psycopg.AsyncConnection.connect(dsn) for _ in range(connections)]
    watch = PgWatch(db.dsn_of("postgres"), [name])
    try:  # connected first, so that the metering sees every backend from start to end
        async with metered([], watch) as usage:
            began = time.perf_counter()
            deadline = began + cap_s

            def next_index() -> int | None:
                return next(counter, None) if time.perf_counter() < deadline else None

            await asyncio.gather(*(_worker(c, workload, next_index, hits, done) for c in pool))
            wall_s = time.perf_counter() - began
    finally:
        watch.close()
        for conn in pool:
            await conn.close()
    processed = np.zeros(len(workload.stream), dtype=np.bool_)
    processed[done] = True
    run = BaselineRun(name, connections, len(done), wall_s, usage, sum(1 for h in hits if h[2]))
    run.covers = compare_covers(covered_pairs(verdicts, processed), {(r, z) for r, z, _ in hits})
    return run
