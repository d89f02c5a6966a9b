"""Position history and each drone's latest position: one statement per batch, never per report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.reports import Report
from skyguard.store import driver

COLUMNS = (
    "alt_m", "height_m", "speed_mps", "heading_deg", "vspeed_mps", "accuracy_m",
    "operator_lon", "operator_lat",
)  # fmt: skip


def _joinable(start_time: str, start: str, end_time: str, end: str) -> str:
    """SQL: a straight segment joins the two reports: at most `gap` apart, not across the
    antimeridian the long way, no faster than `speed` (the engine's rule for crossings)."""
    return (
        f"{end_time} - {start_time} <= %(gap)b::interval"
        f" AND abs(ST_X({start}) - ST_X({end})) <= 180"
        f" AND ST_Distance(CAST({start} AS geography), CAST({end} AS geography))"
        f" <= %(speed)b::float8 * extract(epoch FROM {end_time} - {start_time})"
    )


# Each report also stores its segment from the drone's report just before it (the later of the
# one before it in the batch and the newest stored one before it) when the engine would draw
# it: at most the silence timeout apart, no faster than the top speed, not across the
# antimeridian. Its GiST index finds crossings between reports (zone intrusions) without
# reading every report nearby. The newest stored
# report is the drone's last one in drone_engine_state (locked by this batch) unless the report
# is older than that (late) or the drone has none yet: only then is it looked up in positions.
# A late report that lands between two stored reports also redraws the later one's segment from
# itself, so a crossing between it and the next report is found like any other.
INSERT_POSITIONS = driver.compact(f"""
    WITH r AS (
        SELECT r.*, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS geom,
               lag(r.time) OVER w AS b_time, lag(r.lon) OVER w AS b_lon, lag(r.lat) OVER w AS b_lat,
               lead(r.time) OVER w AS a_time
        FROM unnest(
            %(serial)b::text[], %(time)b::timestamptz[], %(lon)b::float8[], %(lat)b::float8[],
            %(source)b::text[], {", ".join(f"%({c})b::float8[]" for c in COLUMNS)}
        ) WITH ORDINALITY AS r(serial, time, lon, lat, source, {", ".join(COLUMNS)}, i)
        WINDOW w AS (PARTITION BY r.serial ORDER BY r.time)
    ), m AS (  -- the drone's newest stored report, from its memory (if its place is known)
        SELECT r.*, e.last_time > r.time AS late,
               CASE WHEN e.last_time < r.time AND e.last_lon IS NOT NULL
                         AND e.last_lat IS NOT NULL THEN e.last_time END AS e_time,
               e.last_lon AS e_lon, e.last_lat AS e_lat
        FROM r
        LEFT JOIN LATERAL (  -- LIMIT: looked up by key, never a scan of every drone
            SELECT e.last_time, e.last_lon, e.last_lat FROM drone_engine_state e
            WHERE e.serial = r.serial LIMIT 1
        ) e ON true
    ), s AS (  -- the report just before: in the batch, the drone's newest, or looked up (LIMIT:
               -- by key, never a scan of every drone) when late or with no memory to go by
        SELECT m.*, coalesce(m.late, false) AS is_late,
               CASE WHEN q.time IS NOT NULL AND (m.b_time IS NULL OR q.time > m.b_time)
                         AND (m.e_time IS NULL OR q.time > m.e_time) THEN q.time
                    WHEN m.b_time IS NOT NULL AND (m.e_time IS NULL OR m.b_time > m.e_time)
                         THEN m.b_time
                    ELSE m.e_time END AS p_time,
               CASE WHEN q.time IS NOT NULL AND (m.b_time IS NULL OR q.time > m.b_time)
                         AND (m.e_time IS NULL OR q.time > m.e_time)
                         THEN ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326)
                    WHEN m.b_time IS NOT NULL AND (m.e_time IS NULL OR m.b_time > m.e_time)
                         THEN ST_SetSRID(ST_MakePoint(m.b_lon, m.b_lat), 4326)
                    WHEN m.e_time IS NOT NULL
                         THEN ST_SetSRID(ST_MakePoint(m.e_lon, m.e_lat), 4326) END AS p_geom
        FROM m
        LEFT JOIN LATERAL (
            SELECT q.time, q.lon, q.lat FROM positions q
            WHERE (m.late OR (m.b_time IS NULL AND m.e_time IS NULL)) AND q.serial = m.serial
              AND q.time < m.time AND q.time >= m.time - %(gap)b::interval
            ORDER BY q.time DESC LIMIT 1
        ) q ON true
    ), ins AS (
        INSERT INTO positions (serial, time, lon, lat, geom, source, {", ".join(COLUMNS)}, segment)
        SELECT s.serial, s.time, s.lon, s.lat, s.geom, s.source,
               {", ".join(f"s.{c}" for c in COLUMNS)},
               CASE WHEN {_joinable("s.p_time", "s.p_geom", "s.time", "s.geom")}
                    THEN ST_MakeLine(s.p_geom, s.geom) END
        FROM s
        ON CONFLICT (serial, time) DO NOTHING
        RETURNING serial, time
    ), following AS (  -- a late report comes between two stored ones: the later one's segment
                       -- now starts at it (when it is the batch's last report before that one)
        SELECT s.serial, s.time, s.geom, n.time AS n_time, n.geom AS n_geom
        FROM s
        JOIN ins ON ins.serial = s.serial AND ins.time = s.time
        JOIN LATERAL (
            SELECT q.time, q.geom FROM positions q
            WHERE q.serial = s.serial AND q.time > s.time AND q.time <= s.time + %(gap)b::interval
            ORDER BY q.time LIMIT 1
        ) n ON true
        WHERE s.is_late AND (s.a_time IS NULL OR s.a_time > n.time)
    ), redrawn AS (
        UPDATE positions AS p
        SET segment = CASE WHEN {_joinable("f.time", "f.geom", "f.n_time", "f.n_geom")}
                           THEN ST_MakeLine(f.geom, f.n_geom) END
        FROM following f
        WHERE p.serial = f.serial AND p.time = f.n_time
    )
    SELECT CAST(r.i - 1 AS int) FROM r
    WHERE NOT EXISTS (SELECT FROM ins WHERE ins.serial = r.serial AND ins.time = r.time)
""")  # noqa: S608 - column names are constants, values are bound
# (what comes back: the positions in the batch of the reports already stored, usually none)

# the function (migrations 0005, 0008) makes a missing day's partition; a present one costs a
# lookup
ENSURE_PARTITIONS = "SELECT skyguard_ensure_position_partitions(%(days)b::timestamptz[])"

UPSERT_LATEST = """
    INSERT INTO drone_latest AS d
        (serial, time, lon, lat, geom, alt_m, height_m, speed_mps, heading_deg, source)
    SELECT r.serial, r.time, r.lon, r.lat, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326),
           r.alt_m, r.height_m, r.speed_mps, r.heading_deg, r.source
    FROM unnest(
        %(serial)b::text[], %(time)b::timestamptz[], %(lon)b::float8[], %(lat)b::float8[],
        %(alt_m)b::float8[], %(height_m)b::float8[], %(speed_mps)b::float8[],
        %(heading_deg)b::float8[], %(source)b::text[]
    ) AS r(serial, time, lon, lat, alt_m, height_m, speed_mps, heading_deg, source)
    ON CONFLICT (serial) DO UPDATE SET
        time = excluded.time, lon = excluded.lon, lat = excluded.lat, geom = excluded.geom,
        alt_m = excluded.alt_m, height_m = excluded.height_m, speed_mps = excluded.speed_mps,
        heading_deg = excluded.heading_deg, source = excluded.source
    WHERE excluded.time > d.time
"""

TEXTS = ("serial", "source")  # the columns not numbers, beside time


def _columns(reports: Sequence[Report], names: Sequence[str]) -> dict[str, Any]:
    columns: dict[str, Any] = {name: [getattr(r, name) for r in reports] for name in names}
    for name in names:
        if name not in TEXTS and name != "time":
            columns[name] = driver.Floats(columns[name])
    return columns


def _days(reports: Sequence[Report]) -> list[datetime]:
    dates = {r.time.date() for r in reports}  # report times are UTC
    return [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in sorted(dates)]


class KnownDays:
    """Days whose partition this process has seen made, from today on: a batch of reports of
    those days needs no partition statement. Retention drops only days wholly past its cutoff,
    never today's or a later one, so a day known here stays made (a day before today is always
    checked again)."""

    def __init__(self) -> None:
        self._days: set[datetime] = set()

    def unknown(self, days: Sequence[datetime], now: datetime) -> list[datetime]:
        """The days that still need the partition statement."""
        return [day for day in days if day not in self._days or day < _day_of(now)]

    def made(self, days: Sequence[datetime], now: datetime) -> None:
        """Remember days from today on whose partitions were there before this transaction
        (one it made itself is gone if the transaction rolls back)."""
        today = _day_of(now)
        self._days = {day for day in self._days if day >= today}
        self._days.update(day for day in days if day >= today)


def _day_of(at: datetime) -> datetime:
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


async def send_partitions(
    connection: driver.Connection, reports: Sequence[Report], known: KnownDays | None = None
) -> driver.Pending[None] | None:
    """Make the day partitions these reports need, unless `known` says they are made. Send it
    first in a transaction: a worker that waits here for another's new partition then holds no
    row lock that one could be waiting for. Once its result is read, `known` remembers the
    days if all their partitions were there already."""
    now = datetime.now(UTC)
    days = _days(reports) if known is None else known.unknown(_days(reports), now)
    if not days:
        return None

    def remember(rows: list[tuple[int]]) -> None:
        if known is not None and rows[0][0] == 0:
            known.made(days, now)

    return await driver.query(connection, ENSURE_PARTITIONS, {"days": days}, remember)


def _repeats(rows: list[tuple[int]]) -> set[int]:
    return {i for (i,) in rows}


async def send_positions(
    connection: driver.Connection,
    reports: Sequence[Report],
    *,
    gap: timedelta = timedelta(seconds=60),
    speed_mps: float = 150.0,
) -> driver.Pending[set[int]]:
    """Store the reports, each with its segment from the one before when a straight flight at
    most `gap` long and no faster than `speed_mps` joins them; once read, the indexes (in
    `reports`) of those stored before (duplicates). Send it after locking the drones' rows
    (engine_state.send_lock): the newest stored report is the one they hold."""
    params: dict[str, Any] = _columns(reports, ("serial", "time", "lon", "lat", "source", *COLUMNS))
    params.update(gap=gap, speed=float(speed_mps))
    return await driver.query(connection, INSERT_POSITIONS, params, _repeats)


async def send_latest(connection: driver.Connection, reports: Sequence[Report]) -> None:
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
    await driver.send(connection, UPSERT_LATEST, _columns(ordered, (*names, "source")))


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
