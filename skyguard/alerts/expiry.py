"""Alerts that change with time alone: silence, zones ending or starting, exemptions starting.

Every worker ticks; a PostgreSQL advisory lock lets one of them do the work per tick, the others
skip it. The drones worked on are locked with the ingest path's per-drone row locks, so a tick
and a batch for the same drone never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.fleet import expire_all
from skyguard.ingest.batch import Engine
from skyguard.store import alerts, engine_state, flights
from skyguard.store.db import Database

logger = logging.getLogger(__name__)

LOCK_KEY = int.from_bytes(b"sg-expry", "big")  # one advisory lock id, held per tick
TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


@dataclass(frozen=True)
class Expired:
    """What one tick did: whether it ran, how many drones it looked at, the alerts it changed."""

    ran: bool
    drones: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    flights_closed: int = 0


async def expire_once(database: Database, engine: Engine, now: datetime) -> Expired:
    """One tick in one transaction; skipped (ran=False) while another worker holds the lock."""
    async with database.session() as session:
        if not await session.scalar(TRY_LOCK, {"key": LOCK_KEY}):
            return Expired(ran=False)
        return await expire_locked(session, engine, now)


async def expire_locked(session: AsyncSession, engine: Engine, now: datetime) -> Expired:
    """Apply the passing of time up to `now` to every drone it can change (the caller commits)."""
    expired = await _expire_alerts(session, engine, now)
    # flights of drones an ingest batch holds (their engine rows locked) are skipped
    closed = await flights.close_silent(session, now, engine.flight_gap)
    return Expired(ran=True, drones=expired.drones, alerts=expired.alerts, flights_closed=closed)


async def _expire_alerts(session: AsyncSession, engine: Engine, now: datetime) -> Expired:
    since = now - engine.config.silence_timeout
    serials = await engine_state.expiry_candidates(session, since)
    if not serials:
        return Expired(ran=True)
    index = await engine.zones.current(session)
    states = await engine_state.lock_states(session, serials)
    outcome = expire_all(states.values(), now, index, engine.config)
    changed = {serial: new for serial, (new, _) in outcome.items() if new != states[serial]}
    if changed:
        await engine_state.save_states(session, changed)
    transitions = [t for _, found in outcome.values() for t in found]
    touched = await alerts.apply_transitions(session, transitions)
    return Expired(ran=True, drones=len(states), alerts=touched)


async def expire_forever(database: Database, engine: Engine, interval_s: float) -> None:
    """Tick every interval_s until cancelled; a failed tick is logged and the next one runs."""
    while True:
        started = time.monotonic()
        try:
            await expire_once(database, engine, datetime.now(UTC))
        except Exception:
            logger.exception("alert expiry tick failed")
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))
