"""Alerts that change with time alone: silence, zones ending or starting, exemptions starting.

Every worker ticks; a PostgreSQL advisory lock lets one of them do the work per tick, the others
skip it. The drones worked on are locked with the ingest path's per-drone row locks, so a tick
and a batch for the same drone never interleave.

A tick looks only at the drones due (drone_engine_state.due_at, written with each state: the
next instant time alone may change its alerts, see geofence.due), and looks at every live drone
after a zone edit and every FULL_SWEEP_EVERY. With ten thousand drones flying, most of them far
from any zone, a tick costs next to nothing; judging them all each second took a third of a core.
The tick shares its worker's event loop with requests, so it judges the drones a chunk at a
time and lets the loop run between chunks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.due import dues
from skyguard.geofence.episodes import DroneState
from skyguard.geofence.fleet import expire_all
from skyguard.geofence.index import ZoneIndex
from skyguard.ingest.batch import Engine
from skyguard.store import alerts, engine_state, flights
from skyguard.store.db import Database
from skyguard.store.engine_state import Candidate

logger = logging.getLogger(__name__)

LOCK_KEY = int.from_bytes(b"sg-expry", "big")  # one advisory lock id, held per tick
TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
FULL_SWEEP_EVERY = timedelta(seconds=30)
# Drones judged between two returns to the event loop. The tick runs in a serving worker's
# loop: a sweep judged in one piece (368 drones on S, 65 ms of CPU; ten times that at M) held
# up every request meanwhile, one of the stalls behind the report-to-alert p99. A chunk of
# drones is about 10 ms.
CHUNK = 64
LOCATED = 16  # a sweep's candidates are located CHUNK * LOCATED at a time (about 3 ms)


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


async def expire_locked(
    session: AsyncSession, engine: Engine, now: datetime, chunk: int = CHUNK
) -> Expired:
    """Apply the passing of time up to `now` to every drone it can change (the caller commits),
    `chunk` drones at a time, letting the event loop run other tasks in between."""
    expired = await _expire_alerts(session, engine, now, chunk)
    # flights of drones an ingest batch holds (their engine rows locked) are skipped
    closed = await flights.close_silent(session, now, engine.flight_gap)
    return Expired(ran=True, drones=expired.drones, alerts=expired.alerts, flights_closed=closed)


async def _expire_alerts(
    session: AsyncSession, engine: Engine, now: datetime, chunk: int
) -> Expired:
    index = await engine.zones.current(session)
    sweep = _sweep_due(engine, now)
    step = max(1, chunk)
    if sweep:
        since = now - engine.config.silence_timeout
        candidates = await engine_state.expiry_candidates(session, since)
        serials = []
        for start in range(0, len(candidates), step * LOCATED):  # every live drone
            if start:
                await asyncio.sleep(0)
            serials += time_may_change(candidates[start : start + step * LOCATED], index)
    else:
        serials = await engine_state.due_serials(session, now)
    ordered = sorted(serials)  # chunks lock in one order, as every batch does
    drones, touched = 0, []
    for start in range(0, len(ordered), step):
        if start:
            await asyncio.sleep(0)  # requests waiting meanwhile get their turn
        states = await engine_state.lock_free_states(session, ordered[start : start + step])
        drones += len(states)
        touched += await _expire_states(session, engine, now, index, states)
    if sweep:  # a tick that fails before here sweeps again next time
        engine.swept = (engine.zones.revision, now)
    return Expired(ran=True, drones=drones, alerts=touched)


async def _expire_states(
    session: AsyncSession,
    engine: Engine,
    now: datetime,
    index: ZoneIndex,
    states: dict[str, DroneState],
) -> list[dict[str, Any]]:
    """Apply the passing of time to some locked drones; the alerts it changed, as JSON."""
    if not states:
        return []
    outcome = expire_all(states.values(), now, index, engine.config)
    looked = {serial: new for serial, (new, _) in outcome.items()}
    kept = list(looked.values())
    judged_at = [max(now, state.last.time) for state in kept]
    looks = dues(kept, judged_at, index, engine.config)
    await engine_state.save_states(session, looked, dict(zip(looked, looks, strict=True)))
    transitions = [t for _, found in outcome.values() for t in found]
    return await alerts.apply_transitions(session, transitions)


def _sweep_due(engine: Engine, now: datetime) -> bool:
    """Whether this tick looks at every live drone: the first tick of the process, the first
    after a zone edit (a zone drawn over a drone, or removed under it), and every
    FULL_SWEEP_EVERY, a safety net for a batch that wrote its drones' due times against an
    index a zone edit made stale while it ran. Other ticks look only at the drones due."""
    if engine.swept is None:
        return True
    revision, at = engine.swept
    return revision != engine.zones.revision or now - at >= FULL_SWEEP_EVERY or now < at


def time_may_change(candidates: Sequence[Candidate], index: ZoneIndex) -> list[str]:
    """The candidates whose alerts time alone may change: those with episodes open (exit
    timers, silence, zones or exemptions ending), and those whose last position lies in a
    zone or a warning buffer (a zone may start applying there, or an exemption end). A drone
    elsewhere with nothing open can only change with its next report, so the tick leaves it
    alone: at ten thousand live drones, locking and judging them all each second would hold up
    ingest and cost a core."""
    chosen = [c.serial for c in candidates if c.following or c.lon is None or c.lat is None]
    placed = [c for c in candidates if not c.following and c.lon is not None and c.lat is not None]
    if placed:
        lons = np.array([c.lon for c in placed], dtype=np.float64)
        lats = np.array([c.lat for c in placed], dtype=np.float64)
        located = index.locate(lons, lats)
        inside = np.union1d(located.zone[0], located.buffer[0])
        chosen += [placed[int(i)].serial for i in inside]
    return chosen


async def expire_forever(database: Database, engine: Engine, interval_s: float) -> None:
    """Tick every interval_s until cancelled; a failed tick is logged and the next one runs."""
    while True:
        started = time.monotonic()
        try:
            await expire_once(database, engine, datetime.now(UTC))
        except Exception:
            logger.exception("alert expiry tick failed")
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))
