"""One request's reports in: validate each, store the good ones, evaluate the new ones; a few
pipelined statements per batch, never one per report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.due import dues
from skyguard.geofence.episodes import EngineConfig
from skyguard.geofence.fleet import advance_all
from skyguard.geofence.reports import Report
from skyguard.ingest.validate import Rejection, validate_batch
from skyguard.store import alerts, driver, engine_state, flights, positions, revision
from skyguard.store.engine_state import Memory, MemoryCache
from skyguard.store.zone_index import ZoneIndexCache


@dataclass
class Engine:
    """What evaluating reports needs: this process's zone index and the engine settings."""

    zones: ZoneIndexCache
    config: EngineConfig
    flight_gap: timedelta = timedelta(seconds=120)
    memories: MemoryCache = field(default_factory=MemoryCache)
    # the zone revision and the time of this process's last expiry tick over every live drone
    swept: tuple[int, datetime] | None = None
    partitions: positions.KnownDays = field(default_factory=positions.KnownDays)


@dataclass
class IngestResult:
    """What happened to a request's reports."""

    accepted: int = 0
    duplicates: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The response body."""
        return {
            "accepted": self.accepted,
            "duplicates": len(self.duplicates),
            "duplicate_indexes": self.duplicates,
            "rejected": [
                {"index": r.index, "detail": r.detail, "pointer": r.pointer} for r in self.rejected
            ],
            "alerts": self.alerts,
        }


def first_of_each(good: list[tuple[int, Report]]) -> tuple[list[tuple[int, Report]], list[int]]:
    """Keep the first report per (serial, time) in the batch; the indexes of the repeats."""
    seen: set[tuple[str, datetime]] = set()
    unique: list[tuple[int, Report]] = []
    repeats: list[int] = []
    for index, report in good:
        key = (report.serial, report.time)
        if key in seen:
            repeats.append(index)
        else:
            seen.add(key)
            unique.append((index, report))
    return unique, repeats


async def ingest(
    session: AsyncSession,
    raws: list[Any],
    *,
    engine: Engine,
    now: datetime,
    future_tolerance: timedelta,
) -> IngestResult:
    """Validate, store, deduplicate and evaluate one request's reports (the caller commits)."""
    good, rejected = validate_batch(raws, now=now, future_tolerance=future_tolerance)
    unique, repeats = first_of_each(good)
    result = IngestResult(rejected=rejected, duplicates=repeats)
    if not unique:
        return result
    reports = [r for _, r in unique]
    memories, stored_before, seen = await store(session, reports, engine)
    result.duplicates += [unique[i][0] for i in stored_before]
    result.duplicates.sort()
    result.accepted = len(reports) - len(stored_before)
    fresh = [r for i, r in enumerate(reports) if i not in stored_before]
    if fresh:
        result.alerts = await evaluate_locked(
            session, fresh, engine, memories, latest=True, revision=seen
        )
    return result


async def store(
    session: AsyncSession, reports: Sequence[Report], engine: Engine
) -> tuple[dict[str, Memory], set[int], int]:
    """Make the partitions the reports need, note new drones, lock the drones' memories and
    store the reports, in one round trip; the memories, the indexes of the reports that
    were stored before (duplicates), and the zone revision read after the locks."""
    first_seen: dict[str, datetime] = {}
    for report in reports:
        if report.serial not in first_seen or report.time < first_seen[report.serial]:
            first_seen[report.serial] = report.time
    connection = await driver.connection_of(session)
    async with connection.pipeline():
        partitions = await positions.send_partitions(connection, reports, engine.partitions)
        locked = await engine_state.send_lock(
            connection, list(first_seen), engine.memories, first_seen
        )
        seen = await revision.send_current(connection)
        inserted = await positions.send_positions(
            connection,
            reports,
            gap=engine.config.silence_timeout,
            speed_mps=engine.config.max_segment_speed_mps,
        )
    if partitions is not None:
        await partitions.result()
    return await locked.result(), await inserted.result(), await seen.result()


async def evaluate(
    session: AsyncSession, reports: list[Report], engine: Engine
) -> list[dict[str, Any]]:
    """Under per-drone row locks, move flights on and run the engine on new reports; persist
    transitions as alerts, each carrying its flight."""
    if not reports:
        return []
    memories = await engine_state.lock(session, [r.serial for r in reports], engine.memories)
    return await evaluate_locked(session, reports, engine, memories)


async def evaluate_locked(
    session: AsyncSession,
    reports: list[Report],
    engine: Engine,
    memories: dict[str, Memory],
    *,
    latest: bool = False,
    revision: int | None = None,
) -> list[dict[str, Any]]:
    """evaluate() with the drones' rows locked and their memories read already; `latest`: move
    the drones' latest positions on too (in the same round trip as the rest); `revision`: the
    zone revision, if read already in this transaction."""
    index = await engine.zones.current(session, revision)
    states = {s: m.state for s, m in memories.items() if m.state is not None}
    changed, touched = flights.follow_flights(memories, reports, engine.flight_gap)
    outcomes = advance_all(states, reports, index, engine.config)
    transitions = [t for outcome in outcomes.values() for t in outcome.transitions]
    connection = await driver.connection_of(session)
    async with connection.pipeline():
        if latest:
            await positions.send_latest(connection, reports)
        new_states = {s: o.state for s, o in outcomes.items()}
        kept = list(new_states.values())
        looks = dues(kept, [state.last.time for state in kept], index, engine.config)
        due = dict(zip(new_states, looks, strict=True))
        await engine_state.send_save(connection, new_states, due, changed, engine.memories)
        await flights.send_flights(connection, touched)
    current = {s: changed.get(s, m.flight) for s, m in memories.items()}
    flight_ids = {s: f.id for s, f in current.items() if f is not None}
    launches = {f.id: f.launch for f in touched if f.launch is not None}
    return await alerts.apply_transitions(session, transitions, flight_ids, launches)
