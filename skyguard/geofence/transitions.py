"""Alerts follow transitions, not reports: open, update and close episodes of one drone.

Rules, for one drone and one (zone, kind):

- Open when a report breaches (or approaches) and no episode is open: on entry, when a drone is
  first seen inside, when a zone starts applying or an exemption ends while the drone is inside
  (at the next report, or at the next `expire` if the drone is not silent), and when the
  segment between two reports passes through a zone that neither report breaches (an open
  and a close "crossed" together, the entry point being the segment's first boundary hit).
- Update at most once per batch per open episode, carrying the latest report inside.
- Close, with hysteresis, when the drone is outside (horizontally, or above or below the band):
  at once when it is at least `exit_distance_m` out, otherwise once it has been outside for
  `exit_time_s` (an outside report starts the clock, an inside one stops it). An approach
  episode stays open while the drone is anywhere in the buffer, the zone itself included.
- Close as `zone_ended` when the zone no longer applies or left the index, as `exempted` when
  an exemption starts, as `lost_contact` after `silence_timeout_s` without a report.

Timed closes (exit time, silence) carry their deadline as `at`, whether a later report or
`expire` notices them, so the outcome does not depend on how often `expire` runs. Reports at or
before the drone's latest report never change the state: they are handed back as late or
duplicate, for the caller to store as history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from skyguard.geofence.breach import AlertKind, Evaluation, evaluate_one, evaluate_reports
from skyguard.geofence.crossing import Crossing, find_crossings
from skyguard.geofence.episodes import (
    CloseReason,
    DroneState,
    EngineConfig,
    EpisodeKey,
    Ledger,
    Position,
    Sighting,
    Transition,
)
from skyguard.geofence.index import IndexedZone, ZoneIndex
from skyguard.geofence.reports import Report

DEFAULT_CONFIG = EngineConfig()
# Distances come out of floating point a hair either side of the exact value; a report
# `exit_distance_m` out, to within this, counts as that far out.
DISTANCE_TIE_M = 1e-6


class Advanced(NamedTuple):
    """The outcome of applying a batch: new state, transitions, and reports kept as history."""

    state: DroneState
    transitions: list[Transition]
    late: tuple[Report, ...]  # older than the drone's latest report: history only
    duplicates: tuple[Report, ...]  # same time as a report already applied


class Chain(NamedTuple):
    """One drone's batch sorted out: its state, then fresh reports in time order.

    `reports` are the reports to evaluate: the latest applied one (a segment's start), then
    the fresh ones. A NamedTuple, as one is made per drone per batch.
    """

    serial: str
    state: DroneState | None
    fresh: tuple[Report, ...]
    late: tuple[Report, ...]  # older than the drone's latest report
    duplicates: tuple[Report, ...]  # same time as a report already applied
    reports: list[Report]


def chain_of(state: DroneState | None, reports: Sequence[Report]) -> Chain:
    """Sort one drone's reports into fresh ones in time order, late ones, and duplicates."""
    if state is None and not reports:
        raise ValueError("a drone's first batch needs at least one report")
    if len(reports) == 1:  # the common case of live traffic, sorted out without sorting
        report = reports[0]
        if state is None:
            return Chain(report.serial, None, (report,), (), (), [report])
        if state.serial != report.serial:
            raise ValueError(f"advance applies one drone's reports, got {report.serial}")
        if report.time > state.last.time:
            return Chain(report.serial, state, (report,), (), (), [state.last, report])
        if report.time == state.last.time:
            return Chain(report.serial, state, (), (), (report,), [state.last])
        return Chain(report.serial, state, (), (report,), (), [state.last])
    fresh: list[Report] = []
    late: list[Report] = []
    duplicates: list[Report] = []
    newest = state.last_time if state is not None else None
    for report in sorted(reports, key=lambda r: r.time):
        if newest is None or report.time > newest:
            fresh.append(report)
            newest = report.time
        elif report.time == newest:
            duplicates.append(report)
        else:
            late.append(report)
    serial = _serial_of(state, reports)
    evaluated = ([state.last] if state is not None else []) + fresh
    return Chain(serial, state, tuple(fresh), tuple(late), tuple(duplicates), evaluated)


def advance(
    state: DroneState | None,
    reports: Sequence[Report],
    index: ZoneIndex,
    config: EngineConfig = DEFAULT_CONFIG,
) -> Advanced:
    """Apply one drone's batch of reports, in any order, to its state."""
    chain = chain_of(state, reports)
    verdicts = evaluate_reports(chain.reports, index)
    return run(
        chain, verdicts, find_crossings(chain.reports, verdicts, index, config), index, config
    )


def run(
    chain: Chain,
    verdicts: Sequence[dict[int, Evaluation]],
    crossings: Mapping[int, Sequence[Crossing]],
    index: ZoneIndex,
    config: EngineConfig,
) -> Advanced:
    """Apply a drone's chain, given the verdicts and crossings of chain.reports."""
    state, fresh = chain.state, chain.fresh
    if not fresh:
        if state is None:
            raise ValueError("a drone's first batch needs at least one report")
        return Advanced(state, [], chain.late, chain.duplicates)
    ledger = Ledger(chain.serial, state.episodes if state is not None else ())
    reports = chain.reports
    _close_removed(ledger, index, fresh[0].time, reports[0].position)
    for i in range(len(reports) - len(fresh), len(reports)):
        if i > 0:
            for crossing in crossings.get(i, ()):
                fire_deadlines(ledger, crossing.entered_at, reports[i - 1], config)
                _apply_crossing(ledger, index.zones[crossing.position], crossing)
            fire_deadlines(ledger, reports[i].time, reports[i - 1], config)
        _step(ledger, reports[i], verdicts[i], index, config)
    ledger.flush_updates()
    return Advanced(ledger.state(fresh[-1]), ledger.transitions, chain.late, chain.duplicates)


def expire(
    state: DroneState, now: datetime, index: ZoneIndex, config: EngineConfig = DEFAULT_CONFIG
) -> tuple[DroneState, list[Transition]]:
    """Apply the passing of time: silence, exit timers, zones and exemptions starting or ending."""
    probe = probe_of(state, now, config)
    verdicts = evaluate_reports([probe], index)[0] if probe is not None else {}
    return settle(state, now, probe, verdicts, index, config)


def probe_of(state: DroneState, now: datetime, config: EngineConfig) -> Report | None:
    """The drone's last report moved to `now`, or None once the drone is silent."""
    if now - state.last.time > config.silence_timeout:
        return None
    return replace(state.last, time=max(now, state.last.time))


def settle(
    state: DroneState,
    now: datetime,
    probe: Report | None,
    verdicts: dict[int, Evaluation],
    index: ZoneIndex,
    config: EngineConfig,
) -> tuple[DroneState, list[Transition]]:
    """Apply the passing of time, given the verdicts of the drone's probe at `now`."""
    ledger = Ledger(state.serial, state.episodes)
    last = state.last
    _close_removed(ledger, index, now, last.position)
    fire_deadlines(ledger, now, last, config)
    if probe is not None:
        for key in ledger.open_keys():
            position = index.position(key[0])
            if position is not None:
                verdict = _verdict(index, position, probe, verdicts)
                _end_if_not_in_force(ledger, key, verdict, probe)
        _open_new(ledger, probe, verdicts, index)
    return ledger.state(last), ledger.transitions


def fire_deadlines(ledger: Ledger, now: datetime, last: Report, config: EngineConfig) -> None:
    """Close episodes whose exit timer ran out or whose drone went silent, by `now`."""
    silent = now - last.time > config.silence_timeout
    for key in ledger.open_keys():
        deadlines: list[tuple[datetime, CloseReason]] = []
        outside_since = ledger.outside_since(key)
        if outside_since is not None and now - outside_since >= config.exit_time:
            deadlines.append((outside_since + config.exit_time, "exited"))
        if silent:
            deadlines.append((last.time + config.silence_timeout, "lost_contact"))
        if deadlines:
            at, reason = min(deadlines)
            ledger.close(key, reason, at, last.position)


def _step(
    ledger: Ledger,
    report: Report,
    verdicts: dict[int, Evaluation],
    index: ZoneIndex,
    config: EngineConfig,
) -> None:
    """Follow the open episodes through one report, then open what it newly breaches."""
    for key in ledger.open_keys():
        position = index.position(key[0])
        if position is None:
            continue
        verdict = _verdict(index, position, report, verdicts)
        if _end_if_not_in_force(ledger, key, verdict, report):
            continue
        zone = index.zones[position]
        outside_m = _outside_m(key[1], verdict, zone)
        if outside_m is None:
            ledger.see(key, zone, _sighting(report, verdict))
        elif outside_m >= config.exit_distance_m - DISTANCE_TIE_M:
            ledger.close(key, "exited", report.time, report.position)
        else:
            ledger.leave(key, report.time)
    _open_new(ledger, report, verdicts, index)


def _open_new(
    ledger: Ledger, report: Report, verdicts: dict[int, Evaluation], index: ZoneIndex
) -> None:
    """Open an episode for each zone the report breaches or approaches with none open."""
    for position, verdict in verdicts.items():
        kind = verdict.kind
        zone = index.zones[position]
        if kind is not None and (zone.id, kind) not in ledger:
            ledger.open(zone, kind, _sighting(report, verdict))


def _end_if_not_in_force(
    ledger: Ledger, key: EpisodeKey, verdict: Evaluation, report: Report
) -> bool:
    """Close the episode if its zone stopped applying or the drone became exempt."""
    if not verdict.applies:
        ledger.close(key, "zone_ended", report.time, report.position)
    elif verdict.exempt:
        ledger.close(key, "exempted", report.time, report.position)
    else:
        return False
    return True


def _outside_m(kind: AlertKind, verdict: Evaluation, zone: IndexedZone) -> float | None:
    """How far outside an episode's region the report is (in 3D), or None if it is inside."""
    inside = verdict.in_zone if kind == "breach" else verdict.in_buffer
    if inside and verdict.band_excess_m == 0.0:
        return None
    horizontal = 0.0
    if not inside:
        buffer_m = zone.spec.warning_buffer_m if kind == "approach" else 0.0
        horizontal = max(0.0, -verdict.distance_m - buffer_m)
    return max(horizontal, verdict.band_excess_m)


def _apply_crossing(ledger: Ledger, zone: IndexedZone, crossing: Crossing) -> None:
    """Open and close a crossing's episode, or keep an open episode alive through it."""
    key: EpisodeKey = (zone.id, "breach")
    if key in ledger:
        ledger.graze(key, crossing.entered_at, crossing.left_at, crossing.depth_m)
        return
    sighting = Sighting(
        crossing.entered_at, crossing.entry, crossing.depth_m, crossing.altitude_assumed
    )
    ledger.open(zone, "breach", sighting)
    ledger.close(key, "crossed", crossing.left_at, crossing.exit)


def _close_removed(ledger: Ledger, index: ZoneIndex, at: datetime, position: Position) -> None:
    """Close the episodes of zones no longer in the index (archived or deleted)."""
    for key in ledger.open_keys():
        if index.position(key[0]) is None:
            ledger.close(key, "zone_ended", at, position)


def _verdict(
    index: ZoneIndex, position: int, report: Report, verdicts: dict[int, Evaluation]
) -> Evaluation:
    """The report's verdict for a zone: from the batch query, or computed for this zone."""
    verdict = verdicts.get(position)
    return verdict if verdict is not None else evaluate_one(index, position, report)


def _sighting(report: Report, verdict: Evaluation) -> Sighting:
    """The report as a sighting inside an episode."""
    return Sighting(report.time, report.position, verdict.distance_m, verdict.altitude_assumed)


def _serial_of(state: DroneState | None, reports: Sequence[Report]) -> str:
    """The one drone serial of the state and the reports; refuse a mix."""
    serials = {r.serial for r in reports} | ({state.serial} if state is not None else set())
    if len(serials) != 1:
        raise ValueError(f"advance applies one drone's reports, got serials {sorted(serials)}")
    return serials.pop()
