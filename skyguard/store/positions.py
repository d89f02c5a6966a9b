"""Position history and each drone's latest position: one statement per batch, never per report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.reports import Report

COLUMNS = (
    "alt_m", "height_m", "speed_mps", "heading_deg", "vspeed_mps", "accuracy_m",
    "operator_lon", "operator_lat",
)  # fmt: skip

# Each report also stores its segment from the drone's previous report (in the batch, else the
# newest stored one) when the engine would draw that segment: at most the silence timeout apart,
# no faster than the top speed, not across the antimeridian. Its GiST index finds crossings
# between reports (zone intrusions) without reading every report nearby.
INSERT_POSITIONS = text(f"""
    WITH r AS (
        SELECT r.*, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS geom,
               lag(r.time) OVER w AS b_time, lag(r.lon) OVER w AS b_lon, lag(r.lat) OVER w AS b_lat
        FROM unnest(
            CAST(:serial AS text[]), CAST(:time AS timestamptz[]), CAST(:lon AS float8[]),
            CAST(:lat AS float8[]), CAST(:source AS text[]),
            {", ".join(f"CAST(:{c} AS float8[])" for c in COLUMNS)}
        ) AS r(serial, time, lon, lat, source, {", ".join(COLUMNS)})
        WINDOW w AS (PARTITION BY r.serial ORDER BY r.time)
    ), s AS (
        SELECT r.*, coalesce(r.b_time, q.time) AS p_time,
               ST_SetSRID(ST_MakePoint(coalesce(r.b_lon, q.lon), coalesce(r.b_lat, q.lat)), 4326)
                   AS p_geom
        FROM r LEFT JOIN LATERAL (
            SELECT q.time, q.lon, q.lat FROM positions q
            WHERE r.b_time IS NULL AND q.serial = r.serial
              AND q.time < r.time AND q.time >= r.time - :gap
            ORDER BY q.time DESC LIMIT 1
        ) q ON true
    )
    INSERT INTO positions (serial, time, lon, lat, geom, source, {", ".join(COLUMNS)}, segment)
    SELECT s.serial, s.time, s.lon, s.lat, s.geom, s.source,
           {", ".join(f"s.{c}" for c in COLUMNS)},
           CASE WHEN s.time - s.p_time <= :gap
                 AND abs(ST_X(s.p_geom) - s.lon) <= 180
                 AND ST_Distance(CAST(s.p_geom AS geography), CAST(s.geom AS geography))
                     <= :speed * extract(epoch FROM s.time - s.p_time)
                THEN ST_MakeLine(s.p_geom, s.geom) END
    FROM s
    ON CONFLICT (serial, time) DO NOTHING
    RETURNING serial, time
""")  # noqa: S608 - column names are constants, values are bound

ENSURE_PARTITIONS = text(
    "SELECT skyguard_ensure_position_partitions(CAST(:days AS timestamptz[]))"
)  # the function (migration 0005) makes a missing day's partition; a present one costs a lookup

UPSERT_LATEST = text("""
    INSERT INTO drone_latest AS d
        (serial, time, lon, lat, geom, alt_m, height_m, speed_mps, heading_deg, source)
    SELECT r.serial, r.time, r.lon, r.lat, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326),
           r.alt_m, r.height_m, r.speed_mps, r.heading_deg, r.source
    FROM unnest(
        CAST(:serial AS text[]), CAST(:time AS timestamptz[]), CAST(:lon AS float8[]),
        CAST(:lat AS float8[]), CAST(:alt_m AS float8[]), CAST(:height_m AS float8[]),
        CAST(:speed_mps AS float8[]), CAST(:heading_deg AS float8[]), CAST(:source AS text[])
    ) AS r(serial, time, lon, lat, alt_m, height_m, speed_mps, heading_deg, source)
    ON CONFLICT (serial) DO UPDATE SET
        time = excluded.time, lon = excluded.lon, lat = excluded.lat, geom = excluded.geom,
        alt_m = excluded.alt_m, height_m = excluded.height_m, speed_mps = excluded.speed_mps,
        heading_deg = excluded.heading_deg, source = excluded.source
    WHERE excluded.time > d.time
""")


def _columns(reports: Sequence[Report], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [getattr(r, name) for r in reports] for name in names}


async def ensure_partitions(session: AsyncSession, reports: Sequence[Report]) -> None:
    """Make the day partitions these reports need. Call it first in a transaction: a worker that
    waits here for another's new partition then holds no row lock that one could be waiting for."""
    days = sorted({r.time.replace(hour=0, minute=0, second=0, microsecond=0) for r in reports})
    if days:
        await session.execute(ENSURE_PARTITIONS, {"days": days})


async def insert_positions(
    session: AsyncSession,
    reports: Sequence[Report],
    *,
    gap: timedelta = timedelta(seconds=60),
    speed_mps: float = 150.0,
) -> set[tuple[str, datetime]]:
    """Store the reports, each with its segment from the one before when a straight flight at
    most `gap` long and no faster than `speed_mps` joins them; the (serial, time) pairs that
    were new (the rest: duplicates)."""
    if not reports:
        return set()
    params: dict[str, Any] = _columns(reports, ("serial", "time", "lon", "lat", "source", *COLUMNS))
    params.update(gap=gap, speed=speed_mps)
    rows = await session.execute(INSERT_POSITIONS, params)
    return {(serial, time) for serial, time in rows}


async def update_latest(session: AsyncSession, reports: Sequence[Report]) -> None:
    """Move each drone's latest position forward; a late report never replaces a newer one."""
    newest: dict[str, Report] = {}
    for report in reports:
        held = newest.get(report.serial)
        if held is None or report.time > held.time:
            newest[report.serial] = report
    if not newest:
        return
    ordered = [newest[s] for s in sorted(newest)]  # one lock order across concurrent batches
    names = ("serial", "time", "lon", "lat", "alt_m", "height_m", "speed_mps", "heading_deg")
    await session.execute(UPSERT_LATEST, _columns(ordered, (*names, "source")))


LIVE = text("""
    SELECT l.serial, l.time, l.lon, l.lat, l.alt_m, l.height_m, l.speed_mps, l.heading_deg,
           l.source, d.registered
    FROM drone_latest l JOIN drones d USING (serial)
    WHERE l.time >= :since
      AND (CAST(:west AS float8) IS NULL OR (
            CASE WHEN :west <= :east
                 THEN l.geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326)
                 ELSE l.geom && ST_MakeEnvelope(:west, :south, 180, :north, 4326)
                   OR l.geom && ST_MakeEnvelope(-180, :south, :east, :north, 4326)
            END))
    ORDER BY l.serial
""")


async def live_positions(
    session: AsyncSession, since: datetime, bbox: tuple[float, float, float, float] | None
) -> list[dict[str, Any]]:
    """Drones whose latest report is at or after `since`, inside the box if one is given."""
    west, south, east, north = bbox if bbox is not None else (None, None, None, None)
    rows = await session.execute(
        LIVE, {"since": since, "west": west, "south": south, "east": east, "north": north}
    )
    return [dict(row._mapping) for row in rows]


TRACK = text(f"""
    SELECT serial, time, lon, lat, source, {", ".join(COLUMNS)}
    FROM positions
    WHERE serial = :serial
      AND (CAST(:since AS timestamptz) IS NULL OR time >= :since)
      AND (CAST(:until AS timestamptz) IS NULL OR time < :until)
    ORDER BY time
    LIMIT :limit
""")  # noqa: S608 - column names are constants, values are bound


async def track_reports(
    session: AsyncSession,
    serial: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Report]:
    """A drone's stored reports in [since, until) in time order, at most `limit` of them."""
    params = {"serial": serial, "since": since, "until": until, "limit": limit}
    rows = await session.execute(TRACK, params)
    return [Report(**row._mapping) for row in rows]
