"""One request's reports in: validate each, store the good ones in one statement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.episodes import EngineConfig
from skyguard.geofence.fleet import advance_all
from skyguard.geofence.reports import Report
from skyguard.ingest.validate import Rejection, validate_batch
from skyguard.store import alerts, drones, engine_state, flights, positions
from skyguard.store.zone_index import ZoneIndexCache


@dataclass
class Engine:
    """What evaluating reports needs: this process's zone index and the engine settings."""

    zones: ZoneIndexCache
    config: EngineConfig
    flight_gap: timedelta = timedelta(seconds=120)


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
    await positions.ensure_partitions(session, reports)
    first_seen: dict[str, datetime] = {}
    for report in reports:
        if report.serial not in first_seen or report.time < first_seen[report.serial]:
            first_seen[report.serial] = report.time
    await drones.ensure_seen(session, first_seen)
    stored = await positions.insert_positions(
        session,
        reports,
        gap=engine.config.silence_timeout,
        speed_mps=engine.config.max_segment_speed_mps,
    )
    result.duplicates += [i for i, r in unique if (r.serial, r.time) not in stored]
    result.duplicates.sort()
    result.accepted = len(stored)
    fresh = [r for r in reports if (r.serial, r.time) in stored]
    await positions.update_latest(session, fresh)
    result.alerts = await evaluate(session, fresh, engine)
    return result


async def evaluate(
    session: AsyncSession, reports: list[Report], engine: Engine
) -> list[dict[str, Any]]:
    """Under per-drone row locks, move flights on and run the engine on new reports; persist
    transitions as alerts, each carrying its flight."""
    if not reports:
        return []
    index = await engine.zones.current(session)
    states = await engine_state.lock_states(session, [r.serial for r in reports])
    after = {serial: state.last_time for serial, state in states.items()}
    flight_ids = await flights.follow_reports(session, reports, engine.flight_gap, after)
    outcomes = advance_all(states, reports, index, engine.config)
    transitions = [t for outcome in outcomes.values() for t in outcome.transitions]
    await engine_state.save_states(session, {s: o.state for s, o in outcomes.items()})
    return await alerts.apply_transitions(session, transitions, flight_ids)
