"""Where a drone was launched from, which is where officers find its pilot.

`LaunchEvidence` takes a flight's fixes batch by batch and keeps what they show in a bounded
state (launch_evidence, launch_state) that the service stores as JSON with the flight; its
`estimate` weighs that evidence (launch_rules) into a `LaunchPoint`: exact when the track starts
on the ground, the operator's position when the source reports it, else estimated from the
landing, the climb-out, loiter time or the first fix. Pure: numpy and pyproj, no web, no SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skyguard.tracks import launch_rules
from skyguard.tracks.launch_evidence import Reading
from skyguard.tracks.launch_frame import to_local, to_lonlat
from skyguard.tracks.launch_state import EvidenceState, Extras, ZRef


@dataclass(frozen=True)
class Fix:
    """One report as the estimator needs it."""

    t_s: float  # seconds, any epoch (POSIX seconds in the service); increasing
    lon: float
    lat: float
    alt_m: float | None = None  # AMSL
    height_m: float | None = None  # above take-off/ground, when the source knows it
    accuracy_m: float | None = None  # horizontal accuracy
    operator_lon: float | None = None  # pilot/operator position when the source reports it
    operator_lat: float | None = None


@dataclass(frozen=True)
class LaunchPoint:
    """A launch point: where, how far off it may be, and on what evidence."""

    lon: float
    lat: float
    radius_m: float  # the truth lies within this radius in >= 80 % of cases (make eval)
    method: str  # "ground_start" | "operator_location" | "estimated"
    confidence: float  # 0..1
    basis: str  # the evidence, in words an officer reads
    ground_alt_m: float | None  # estimated ground altitude AMSL at launch, when known

    def as_json(self) -> dict[str, Any]:
        """The launch point as a JSON object."""
        return {
            "lon": round(self.lon, 7),
            "lat": round(self.lat, 7),
            "radius_m": round(self.radius_m, 1),
            "method": self.method,
            "confidence": round(self.confidence, 2),
            "basis": self.basis,
            "ground_alt_m": None if self.ground_alt_m is None else round(self.ground_alt_m, 1),
        }


class LaunchEvidence:
    """What a flight has shown so far, bounded in size whatever the flight's length,
    JSON-serialisable."""

    def __init__(self, state: EvidenceState | None = None) -> None:
        self._state = state

    @classmethod
    def empty(cls) -> LaunchEvidence:
        """Evidence of a flight with no fix yet."""
        return cls()

    @property
    def fix_count(self) -> int:
        """How many fixes have been added."""
        return 0 if self._state is None else self._state.fixes_n

    @property
    def rejected_count(self) -> int:
        """How many of them the glitch filter left out as physically implausible."""
        return 0 if self._state is None else self._state.rejected_n

    def add(self, fixes: Sequence[Fix]) -> None:
        """Take fixes in time order, all later than those added before; O(len(fixes))."""
        if not fixes:
            return
        state = self._state if self._state is not None else self._begin(fixes[0])
        lons = np.fromiter((f.lon for f in fixes), dtype=np.float64, count=len(fixes))
        lats = np.fromiter((f.lat for f in fixes), dtype=np.float64, count=len(fixes))
        xs_m, ys_m = to_local(state.lon0, state.lat0, lons, lats)
        for fix, x_m, y_m in zip(fixes, xs_m.tolist(), ys_m.tolist(), strict=True):
            z_m = fix.alt_m if state.z_ref == "alt" else fix.height_m
            operator = None
            if fix.operator_lon is not None and fix.operator_lat is not None:
                operator = (fix.operator_lon, fix.operator_lat)
            extras = Extras(fix.alt_m, fix.height_m, fix.accuracy_m, operator)
            state.absorb(Reading(fix.t_s - state.t0_s, x_m, y_m, z_m), extras)

    def _begin(self, first: Fix) -> EvidenceState:
        z_ref: ZRef = "height" if first.alt_m is None and first.height_m is not None else "alt"
        self._state = EvidenceState(first.lon, first.lat, first.t_s, z_ref)
        return self._state

    def estimate(self, *, ended: bool) -> LaunchPoint:
        """The launch point on the evidence so far; ended: a gap has closed the flight."""
        state = self._require()
        found = launch_rules.estimate(state, ended=ended)
        lon, lat = found.lonlat or to_lonlat(state.lon0, state.lat0, found.x_m, found.y_m)
        return LaunchPoint(
            lon=lon,
            lat=lat,
            radius_m=found.radius_m,
            method=found.method,
            confidence=found.confidence,
            basis=found.basis,
            ground_alt_m=found.ground_z_m if state.z_ref == "alt" else None,
        )

    def landing(self, *, ended: bool) -> tuple[float, float] | None:
        """(lon, lat) where the flight landed, if its track ends on the ground."""
        if self._state is None:
            return None
        run = launch_rules.landing_run(self._state, ended=ended)
        if run is None:
            return None
        x_m, y_m = run.mean.xy()
        return to_lonlat(self._state.lon0, self._state.lat0, x_m, y_m)

    def to_json(self) -> dict[str, Any]:
        """The evidence as a JSON object ({} for a flight with no fix)."""
        return {} if self._state is None else self._state.to_json()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LaunchEvidence:
        """The evidence to_json wrote."""
        return cls(EvidenceState.from_json(data) if data else None)

    def _require(self) -> EvidenceState:
        if self._state is None:
            raise ValueError("no fix yet: a launch point needs at least one fix")
        return self._state
