"""The hourly district rollup: per closed UTC hour and district, each (drone, flight) seen there,
so district statistics read drones x districts x hours instead of every report.

Every worker runs the roll-up loop; an advisory lock lets one of them work per tick. A tick rolls
the newest closed hours (ended SETTLE ago, so most late reports are in) of the retained days
that are not rolled, rolled before a district was created (district_revision), or, within the
last RECHECK, whose report count has changed since (a late report: the count is an index-only
scan of positions.time, so ingest is not touched). A report arriving more than RECHECK after
its hour is not seen by the rollup (deleting the hour's district_rollup row has it rolled
again). Deleting a district needs no roll-up: its rows cascade.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.store.db import Database
from skyguard.store.partitions import position_days

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
SETTLE = timedelta(minutes=2)
RECHECK = timedelta(hours=6)  # a count over it costs ~0.25 s at 1.3M reports a day
LOCK_KEY = int.from_bytes(b"sg-rollp", "big")
TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
BUMP = text("UPDATE district_revision SET revision = revision + 1 WHERE id = 1")
CURRENT = text("SELECT revision FROM district_revision WHERE id = 1")
COUNT = text("SELECT count(*) FROM positions WHERE time >= :hour AND time < :end")
CLEAR = text("DELETE FROM district_hours WHERE hour = :hour")
# As the live statistics match them: a report in every district covering it, with the flight
# of its drone whose span holds it.
ROLL = text("""
INSERT INTO district_hours (hour, district_id, serial, flight_id, reports)
SELECT CAST(:hour AS timestamptz), d.id, p.serial, f.id, count(*)
FROM districts d
JOIN positions p ON ST_Covers(d.geom, p.geom)
LEFT JOIN flights f
  ON f.serial = p.serial AND p.time BETWEEN f.started_at AND f.ended_at
 AND f.started_at < :end AND f.ended_at >= :hour
WHERE p.time >= :hour AND p.time < :end
GROUP BY d.id, p.serial, f.id
""")
MARK = text("""
INSERT INTO district_rollup (hour, revision, positions, rolled_at)
VALUES (:hour, :revision, :positions, now())
ON CONFLICT (hour) DO UPDATE
SET revision = excluded.revision, positions = excluded.positions, rolled_at = excluded.rolled_at
""")
FORGET = (
    text("DELETE FROM district_hours WHERE hour < :first"),
    text("DELETE FROM district_rollup WHERE hour < :first"),
)
DUE = text("""
WITH hours AS (
    SELECT generate_series(
        CAST(:first AS timestamptz), CAST(:last AS timestamptz), interval '1 hour') AS hour
),
recent AS (
    SELECT date_trunc('hour', time, 'UTC') AS hour, count(*) AS positions
    FROM positions WHERE time >= :recheck_since AND time < :last + interval '1 hour'
    GROUP BY 1
)
SELECT h.hour
FROM hours h
LEFT JOIN district_rollup r ON r.hour = h.hour
LEFT JOIN recent c ON c.hour = h.hour
WHERE r.hour IS NULL OR r.revision <> :revision
   OR (h.hour >= :recheck_since AND r.positions <> coalesce(c.positions, 0))
ORDER BY h.hour DESC
LIMIT :limit
""")


async def bump_revision(session: AsyncSession) -> None:
    """Mark every rolled hour stale, as of this transaction's commit (a district was created)."""
    await session.execute(BUMP)


async def current_revision(session: AsyncSession) -> int:
    """The districts revision this session sees."""
    return int((await session.execute(CURRENT)).scalar_one())


def floor_hour(at: datetime) -> datetime:
    """The UTC hour holding `at`."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def roll_up_hour(session: AsyncSession, hour: datetime) -> None:
    """Rebuild one UTC hour's district_hours and mark it rolled (the caller commits)."""
    # read before the districts, so a district created meanwhile leaves the hour stale
    revision = await current_revision(session)
    params = {"hour": hour, "end": hour + HOUR}
    # counted before rolling: a report arriving in between makes the hour look stale, not fresh
    positions = (await session.execute(COUNT, params)).scalar_one()
    await session.execute(CLEAR, params)
    await session.execute(ROLL, params)
    await session.execute(MARK, {"hour": hour, "revision": revision, "positions": positions})


async def due_hours(session: AsyncSession, now: datetime, limit: int) -> list[datetime]:
    """Up to `limit` closed hours of the retained days to roll up, newest first; forgets the
    rollup of days no longer retained."""
    days = await position_days(session)
    last = floor_hour(now - SETTLE) - HOUR
    first = datetime.combine(min(days), datetime.min.time(), UTC) if days else last + HOUR
    for statement in FORGET:
        await session.execute(statement, {"first": first})
    if last < first:
        return []
    params = {
        "first": first,
        "last": last,
        "recheck_since": last + HOUR - RECHECK,
        "revision": await current_revision(session),
        "limit": limit,
    }
    return list((await session.scalars(DUE, params)).all())


@dataclass(frozen=True)
class RolledUp:
    """What one tick did: whether it ran, and the hours it rolled up."""

    ran: bool
    hours: list[datetime] = field(default_factory=list)


async def roll_up_once(database: Database, now: datetime, hours_per_tick: int) -> RolledUp:
    """One tick in one transaction; skipped (ran=False) while another worker holds the lock."""
    async with database.session() as session:
        if not await session.scalar(TRY_LOCK, {"key": LOCK_KEY}):
            return RolledUp(ran=False)
        hours = await due_hours(session, now, hours_per_tick)
        for hour in hours:
            await roll_up_hour(session, hour)
    return RolledUp(ran=True, hours=hours)


async def roll_up_forever(database: Database, interval_s: float, hours_per_tick: int) -> None:
    """Tick every interval_s until cancelled; a failed tick is logged and the next one runs."""
    while True:
        started = time.monotonic()
        try:
            done = await roll_up_once(database, datetime.now(UTC), hours_per_tick)
            if done.hours:
                logger.debug("district rollup: %d hour(s) rolled up", len(done.hours))
        except Exception:
            logger.exception("district rollup tick failed (it is tried again)")
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))
