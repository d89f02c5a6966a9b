"""Where a drone was launched from, which is where officers find its pilot.

`LaunchEvidence` takes a flight's fixes batch by batch and keeps what they show in a bounded
state (launch_evidence, launch_state) that the service stores compactly (launch_packing) with
the drone; its `estimate` weighs that evidence (launch_rules) into a `LaunchPoint`: exact when
the track starts on the ground, the operator's position when the source reports it, else
estimated from the landing, the climb-out, loiter time or the first fix. Pure: numpy and
pyproj, no web, no SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from skyguard.tracks import launch_packing, launch_rules
from skyguard.tracks.launch_evidence import Reading
from skyguard.tracks.launch_frame import to_local, to_lonlat_all
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


class Located(Protocol):
    """What the estimator reads of a fix besides its time (a Fix, or the service's Report)."""

    @property
    def lon(self) -> float: ...
    @property
    def lat(self) -> float: ...
    @property
    def alt_m(self) -> float | None: ...
    @property
    def height_m(self) -> float | None: ...
    @property
    def accuracy_m(self) -> float | None: ...
    @property
    def operator_lon(self) -> float | None: ...
    @property
    def operator_lat(self) -> float | None: ...


class LaunchPoint(NamedTuple):
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

    def origin(self, first: Located) -> tuple[float, float]:
        """(lon, lat) of the flight's frame: its first fix, `first` if none was added yet."""
        state = self._state
        return (first.lon, first.lat) if state is None else (state.lon0, state.lat0)

    def add(self, fixes: Sequence[Fix]) -> None:
        """Take fixes in time order, all later than those added before; O(len(fixes))."""
        if not fixes:
            return
        lon0, lat0 = self.origin(fixes[0])
        lons = np.fromiter((f.lon for f in fixes), dtype=np.float64, count=len(fixes))
        lats = np.fromiter((f.lat for f in fixes), dtype=np.float64, count=len(fixes))
        xs_m, ys_m = to_local(lon0, lat0, lons, lats)
        self.add_local(fixes, [f.t_s for f in fixes], xs_m.tolist(), ys_m.tolist())

    def add_local(
        self,
        fixes: Sequence[Located],
        times_s: Sequence[float],
        xs_m: Sequence[float],
        ys_m: Sequence[float],
    ) -> None:
        """Take fixes as `add` does, given their times (seconds) and their metres east and north
        of `origin` (the service computes those for a whole batch of drones at once, and gives
        its reports as they are)."""
        if not fixes:
            return
        state = self._state if self._state is not None else self._begin(fixes[0], times_s[0])
        absorb, height_ref, t0_s = state.absorb, state.z_ref == "height", state.t0_s
        for fix, t_s, x_m, y_m in zip(fixes, times_s, xs_m, ys_m, strict=True):
            operator = None
            if fix.operator_lon is not None and fix.operator_lat is not None:
                operator = (fix.operator_lon, fix.operator_lat)
            z_m = fix.height_m if height_ref else fix.alt_m
            absorb(
                Reading(t_s - t0_s, x_m, y_m, z_m),
                Extras(fix.alt_m, fix.height_m, fix.accuracy_m, operator),
            )

    def _begin(self, first: Located, t_s: float) -> EvidenceState:
        z_ref: ZRef = "height" if first.alt_m is None and first.height_m is not None else "alt"
        self._state = EvidenceState(first.lon, first.lat, t_s, z_ref)
        return self._state

    def estimate(self, *, ended: bool) -> LaunchPoint:
        """The launch point on the evidence so far; ended: a gap has closed the flight."""
        return estimate_all([(self, ended)])[0]

    def landing(self, *, ended: bool) -> tuple[float, float] | None:
        """(lon, lat) where the flight landed, if its track ends on the ground."""
        return landing_all([(self, ended)])[0]

    def to_json(self) -> dict[str, Any]:
        """The evidence as a JSON object ({} for a flight with no fix)."""
        return {} if self._state is None else self._state.to_json()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LaunchEvidence:
        """The evidence to_json wrote."""
        return cls(EvidenceState.from_json(data) if data else None)

    def to_bytes(self) -> bytes:
        """The evidence as compact bytes (b"" for a flight with no fix)."""
        return b"" if self._state is None else launch_packing.pack_evidence(self._state)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> LaunchEvidence:
        """The evidence to_bytes wrote."""
        return cls(launch_packing.unpack_evidence(data) if data else None)

    def require(self) -> EvidenceState:
        """The evidence's state; ValueError for a flight with no fix yet."""
        if self._state is None:
            raise ValueError("no fix yet: a launch point needs at least one fix")
        return self._state

    @property
    def state(self) -> EvidenceState | None:
        """The evidence's state, None for a flight with no fix yet."""
        return self._state


def estimate_all(items: Sequence[tuple[LaunchEvidence, bool]]) -> list[LaunchPoint]:
    """The launch point of each evidence (with whether its flight has ended), the points in
    local metres brought back to lon/lat together."""
    states = [evidence.require() for evidence, _ in items]
    found = [
        launch_rules.estimate(state, ended=ended)
        for state, (_, ended) in zip(states, items, strict=True)
    ]
    local = [i for i, f in enumerate(found) if f.lonlat is None]
    lonlats = _to_lonlat([(states[i], found[i].x_m, found[i].y_m) for i in local], local)
    return [
        LaunchPoint(
            lon=(f.lonlat or lonlats[i])[0],
            lat=(f.lonlat or lonlats[i])[1],
            radius_m=f.radius_m,
            method=f.method,
            confidence=f.confidence,
            basis=f.basis,
            ground_alt_m=f.ground_z_m if state.z_ref == "alt" else None,
        )
        for i, (state, f) in enumerate(zip(states, found, strict=True))
    ]


def landing_all(items: Sequence[tuple[LaunchEvidence, bool]]) -> list[tuple[float, float] | None]:
    """(lon, lat) where each evidence's flight landed, if its track ends on the ground."""
    points: list[tuple[EvidenceState, float, float]] = []
    where: list[int] = []
    for i, (evidence, ended) in enumerate(items):
        state = evidence.state
        run = None if state is None else launch_rules.landing_run(state, ended=ended)
        if state is not None and run is not None:
            points.append((state, *run.mean.xy()))
            where.append(i)
    landed = _to_lonlat(points, where)
    return [landed.get(i) for i in range(len(items))]


def _to_lonlat(
    points: Sequence[tuple[EvidenceState, float, float]], keys: Sequence[int]
) -> dict[int, tuple[float, float]]:
    """lon/lat of points in their flights' frames, in one geodesic computation."""
    if not points:
        return {}
    lons, lats = to_lonlat_all(
        np.array([p[0].lon0 for p in points]),
        np.array([p[0].lat0 for p in points]),
        np.array([p[1] for p in points]),
        np.array([p[2] for p in points]),
    )
    return dict(zip(keys, zip(lons.tolist(), lats.tolist(), strict=True), strict=True))
