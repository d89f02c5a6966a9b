"""Flights: one drone's reports cut where the gap between two exceeds a setting, summed up as
they arrive (duration, distance, heights) with the launch point the evidence gives so far.

Pure: no SQL. The store loads a drone's open flight, `follow` moves it forward with the batch's
new reports, and the store writes back what changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from skyguard.geofence.reports import Report
from skyguard.geofence.shapes import wgs84
from skyguard.tracks.launch import LaunchEvidence, LaunchPoint, estimate_all, landing_all

# A step faster than this is a position glitch, not flight: it is left out of the distance.
MAX_STEP_SPEED_MPS = 150.0


@dataclass
class FlightTrack:
    """A flight as it stands: what the reports so far say about it."""

    id: uuid.UUID
    serial: str
    started_at: datetime
    ended_at: datetime
    report_count: int
    distance_m: float
    first: tuple[float, float]
    last: tuple[float, float, float | None]
    evidence: LaunchEvidence
    max_alt_m: float | None = None
    max_reported_height_m: float | None = None
    closed_at: datetime | None = None
    launch: LaunchPoint | None = field(default=None)
    landing: tuple[float, float] | None = None

    @property
    def is_closed(self) -> bool:
        """Whether a gap has ended the flight."""
        return self.closed_at is not None

    @property
    def duration_s(self) -> float:
        """Seconds from the first report to the last."""
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def max_height_m(self) -> float | None:
        """The highest height reported, or the highest altitude over the estimated ground."""
        reported = self.max_reported_height_m
        ground = self.launch.ground_alt_m if self.launch is not None else None
        if self.max_alt_m is None or ground is None:
            return reported
        over_ground = self.max_alt_m - ground
        return over_ground if reported is None else max(reported, over_ground)


def start(report: Report) -> FlightTrack:
    """A new flight beginning with this report."""
    return FlightTrack(
        id=uuid.uuid4(),
        serial=report.serial,
        started_at=report.time,
        ended_at=report.time,
        report_count=0,
        distance_m=0.0,
        first=report.position,
        last=(report.lon, report.lat, report.alt_m),
        evidence=LaunchEvidence.empty(),
    )


def close(flight: FlightTrack, gap: timedelta) -> FlightTrack:
    """The flight ended by a gap (closed at its last report + gap): its last reports may now be
    read as a landing."""
    return close_all([flight], gap)[0]


def close_all(flights: Sequence[FlightTrack], gap: timedelta) -> list[FlightTrack]:
    """close() of many flights, their launch points and landings computed together."""
    closed = [replace(flight, closed_at=flight.ended_at + gap) for flight in flights]
    _estimate(closed)
    return closed


def follow(
    flight: FlightTrack | None,
    reports: Sequence[Report],
    gap: timedelta,
    *,
    after: datetime | None = None,
) -> list[FlightTrack]:
    """Move one drone's flight on with its new reports (any order); the flights changed.

    Reports at or before `after` (the drone's newest report already applied) or at or before the
    flight's end are late: history only, as for the alerting engine. A gap longer than `gap`
    closes the flight and the next report starts a new one.
    """
    return follow_all([(flight, reports, after)], gap)[0]


@dataclass
class _Run:
    """Reports that extend one flight (no gap inside), and whether a gap then closes it."""

    flight: FlightTrack
    reports: list[Report]
    closes: bool


def follow_all(
    drones: Sequence[tuple[FlightTrack | None, Sequence[Report], datetime | None]],
    gap: timedelta,
) -> list[list[FlightTrack]]:
    """follow() for many drones at once, each given as (flight, reports, after); the geodesics
    of all their reports computed together."""
    plans = [_plan(flight, reports, gap, after) for flight, reports, after in drones]
    runs = [run for plan in plans for run in plan]
    extended = _extend_all(runs)
    for i, run in enumerate(runs):
        if run.closes:
            extended[i] = replace(extended[i], closed_at=extended[i].ended_at + gap)
    _estimate(extended)
    touched: list[list[FlightTrack]] = []
    done = 0
    for plan in plans:
        touched.append(extended[done : done + len(plan)])
        done += len(plan)
    return touched


def _plan(
    flight: FlightTrack | None, reports: Sequence[Report], gap: timedelta, after: datetime | None
) -> list[_Run]:
    """One drone's fresh reports cut into runs, each extending the flight before or a new one."""
    horizon = flight.ended_at if flight is not None else None
    if after is not None and (horizon is None or after > horizon):
        horizon = after
    fresh = [r for r in reports if horizon is None or r.time > horizon]
    if len(fresh) > 1:
        fresh.sort(key=_time)
    runs: list[_Run] = []
    reference = flight.ended_at if flight else None
    for report in fresh:
        if flight is None or (reference is not None and report.time - reference > gap):
            if runs:
                runs[-1].closes = True
            elif flight is not None:  # an open flight with no new report, closed by the gap
                runs.append(_Run(flight, [], closes=True))
            flight = start(report)
            runs.append(_Run(flight, [], closes=False))
        elif not runs:
            runs.append(_Run(flight, [], closes=False))
        runs[-1].reports.append(report)
        reference = report.time
    return runs


def _time(report: Report) -> datetime:
    return report.time


def _extend_all(runs: Sequence[_Run]) -> list[FlightTrack]:
    """Each run's flight with the run's reports added; one geodesic computation for them all:
    each report's step from the one before (for the distance) and its place in its flight's
    frame (for the launch evidence)."""
    lon1: list[float] = []
    lat1: list[float] = []
    lon2: list[float] = []
    lat2: list[float] = []
    for run in runs:
        reports = run.reports
        if not reports:
            continue
        lon0, lat0 = run.flight.evidence.origin(reports[0])
        lons = [r.lon for r in reports]
        lats = [r.lat for r in reports]
        previous = run.flight.last
        lon1 += (previous[0], *lons[:-1], *([lon0] * len(lons)))
        lat1 += (previous[1], *lats[:-1], *([lat0] * len(lats)))
        lon2 += lons * 2
        lat2 += lats * 2
    azimuth, _, distance = wgs84().inv(
        np.array(lon1), np.array(lat1), np.array(lon2), np.array(lat2)
    )
    distance = np.asarray(distance, dtype=np.float64)
    radians = np.radians(np.asarray(azimuth, dtype=np.float64))
    xs = (distance * np.sin(radians)).tolist()
    ys = (distance * np.cos(radians)).tolist()
    steps = distance.tolist()
    extended: list[FlightTrack] = []
    at = 0
    for run in runs:
        n = len(run.reports)
        local = slice(at + n, at + 2 * n)
        extended.append(_extend(run, steps[at : at + n], xs[local], ys[local]))
        at += 2 * n
    return extended


def _extend(run: _Run, steps_m: list[float], xs_m: list[float], ys_m: list[float]) -> FlightTrack:
    """The run's flight with its reports added (no gap inside the run)."""
    flight, reports = run.flight, run.reports
    if not reports:
        return flight
    if flight.report_count == 0:
        steps_m[0] = 0.0  # the "previous" position of a new flight is its own first report
    times_s = [r.time.timestamp() for r in reports]
    before = flight.ended_at.timestamp()
    distance_m = flight.distance_m
    for t_s, step_m in zip(times_s, steps_m, strict=True):
        if step_m / max(t_s - before, 1e-3) <= MAX_STEP_SPEED_MPS:
            distance_m += step_m
        before = t_s
    flight.evidence.add_local(reports, times_s, xs_m, ys_m)
    last = reports[-1]
    return FlightTrack(
        id=flight.id,
        serial=flight.serial,
        started_at=flight.started_at,
        ended_at=last.time,
        report_count=flight.report_count + len(reports),
        distance_m=distance_m,
        first=flight.first,
        last=(last.lon, last.lat, last.alt_m),
        evidence=flight.evidence,
        max_alt_m=_max(flight.max_alt_m, [r.alt_m for r in reports]),
        max_reported_height_m=_max(flight.max_reported_height_m, [r.height_m for r in reports]),
        closed_at=flight.closed_at,
    )


def _estimate(flights: Sequence[FlightTrack]) -> None:
    """Set each flight's launch point and landing from its evidence, together."""
    items = [(flight.evidence, flight.is_closed) for flight in flights]
    for flight, launch, landing in zip(
        flights, estimate_all(items), landing_all(items), strict=True
    ):
        flight.launch = launch
        flight.landing = landing


def _max(held: float | None, values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    if held is not None:
        known.append(held)
    return max(known) if known else None
