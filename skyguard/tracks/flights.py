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
from typing import Any

import numpy as np

from skyguard.geofence.reports import Report
from skyguard.geofence.shapes import wgs84
from skyguard.tracks.launch import Fix, LaunchEvidence, LaunchPoint

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
        heights = [self.max_reported_height_m]
        ground = self.launch.ground_alt_m if self.launch is not None else None
        if self.max_alt_m is not None and ground is not None:
            heights.append(self.max_alt_m - ground)
        known = [h for h in heights if h is not None]
        return max(known) if known else None


def fix_of(report: Report) -> Fix:
    """The launch estimator's view of a report (POSIX seconds)."""
    return Fix(
        t_s=report.time.timestamp(),
        lon=report.lon,
        lat=report.lat,
        alt_m=report.alt_m,
        height_m=report.height_m,
        accuracy_m=report.accuracy_m,
        operator_lon=report.operator_lon,
        operator_lat=report.operator_lat,
    )


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
    closed = replace(flight, closed_at=flight.ended_at + gap)
    closed.launch = closed.evidence.estimate(ended=True)
    closed.landing = closed.evidence.landing(ended=True)
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
    horizon = max((t for t in (after, flight.ended_at if flight else None) if t), default=None)
    fresh = sorted((r for r in reports if horizon is None or r.time > horizon), key=_time)
    touched: list[FlightTrack] = []
    run: list[Report] = []
    for report in fresh:
        reference = run[-1].time if run else (flight.ended_at if flight else None)
        if flight is None or (reference is not None and report.time - reference > gap):
            if flight is not None:
                touched.append(close(_extend(flight, run), gap))
            flight, run = start(report), []
        run.append(report)
    if flight is not None and run:
        touched.append(_extend(flight, run))
    return touched


def _time(report: Report) -> datetime:
    return report.time


def _extend(flight: FlightTrack, run: Sequence[Report]) -> FlightTrack:
    """The flight with a run of later reports added (no gap inside the run)."""
    if not run:
        return flight
    lons = np.array([flight.last[0], *(r.lon for r in run)])
    lats = np.array([flight.last[1], *(r.lat for r in run)])
    seconds = np.array([flight.ended_at.timestamp(), *(r.time.timestamp() for r in run)])
    _, _, steps_m = wgs84().inv(lons[:-1], lats[:-1], lons[1:], lats[1:])
    steps_m = np.asarray(steps_m, dtype=np.float64)
    dt_s = np.maximum(np.diff(seconds), 1e-3)
    if flight.report_count == 0:
        steps_m[0] = 0.0  # the "previous" position of a new flight is its own first report
    plausible = steps_m / dt_s <= MAX_STEP_SPEED_MPS
    flight.evidence.add([fix_of(r) for r in run])
    moved = replace(
        flight,
        ended_at=run[-1].time,
        report_count=flight.report_count + len(run),
        distance_m=flight.distance_m + float(steps_m[plausible].sum()),
        last=(run[-1].lon, run[-1].lat, run[-1].alt_m),
        max_alt_m=_max(flight.max_alt_m, (r.alt_m for r in run)),
        max_reported_height_m=_max(flight.max_reported_height_m, (r.height_m for r in run)),
    )
    moved.launch = moved.evidence.estimate(ended=False)
    moved.landing = moved.evidence.landing(ended=False)
    return moved


def _max(held: float | None, values: Any) -> float | None:
    known = [v for v in (held, *values) if v is not None]
    return max(known) if known else None
