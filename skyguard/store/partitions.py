"""Retention of position history: `positions` is partitioned by UTC day (migration 0005), so
reports past the retention go a whole day at a time, by dropping that day's partition.

Every worker may run the retention loop; an advisory lock lets one of them work at a time.
Dropping a partition briefly takes an exclusive lock on `positions`: a short lock_timeout makes
the drop give way to running ingest and queries, and the next pass tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.store.db import Database

logger = logging.getLogger(__name__)

LOCK_KEY = int.from_bytes(b"sg-retnt", "big")
TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
PARTITIONS = text("""
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = CAST('positions' AS regclass)
    ORDER BY c.relname
""")
PREFIX = "positions_"


def partition_day(name: str) -> date | None:
    """The UTC day a partition named positions_YYYYMMDD holds, or None for another name."""
    if not name.startswith(PREFIX):
        return None
    try:
        return datetime.strptime(name.removeprefix(PREFIX), "%Y%m%d").replace(tzinfo=UTC).date()
    except ValueError:
        return None


async def position_days(session: AsyncSession) -> dict[date, str]:
    """The days that have a partition, with the partition's name."""
    names = (await session.scalars(PARTITIONS)).all()
    return {day: name for name in names if (day := partition_day(name)) is not None}


async def drop_before(session: AsyncSession, cutoff: datetime) -> list[str]:
    """Drop the partitions whose whole day is before `cutoff`; their names (caller commits)."""
    await session.execute(text("SET LOCAL lock_timeout = '5s'"))
    dropped = []
    for day, name in sorted((await position_days(session)).items()):
        if datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) <= cutoff:
            await session.execute(text(f'DROP TABLE "{name}"'))
            dropped.append(name)
    return dropped


async def apply_retention(database: Database, retention: timedelta, now: datetime) -> list[str]:
    """One retention pass; nothing while another worker holds the retention lock."""
    async with database.session() as session:
        if not await session.scalar(TRY_LOCK, {"key": LOCK_KEY}):
            return []
        dropped = await drop_before(session, now - retention)
    if dropped:
        logger.info("retention dropped %d day(s) of reports: %s", len(dropped), ", ".join(dropped))
    return dropped


async def retain_forever(database: Database, retention: timedelta, interval_s: float) -> None:
    """Apply the retention every interval_s until cancelled; a failed pass is logged."""
    while True:
        started = time.monotonic()
        try:
            await apply_retention(database, retention, datetime.now(UTC))
        except Exception:
            logger.exception("retention pass failed (it is tried again)")
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))
