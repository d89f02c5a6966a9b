"""The parts of a flight's launch evidence, and the glitch test every fix goes through first.

Glitch filter: a fix that would need a speed no drone flies (MAX_HORIZONTAL_SPEED_MPS,
MAX_VERTICAL_SPEED_MPS) from the last accepted fix is left out. A receiver that really moved (or
an accepted fix that was itself the glitch) shows as a run of rejected fixes consistent with
each other; after REANCHOR_FIXES of them the filter follows them. Accepted fixes less than
GLITCH_QUIET_S after a rejected one are not sampled: amid glitches, what passes is suspect too.

Accepted fixes feed the start cluster (how long the track stayed still where it began, and
where); samples, at most one per SAMPLE_STEP_S, feed the head (the first HEAD_SAMPLES samples,
for the climb-out), the altitude range, the current still run (a landing candidate), the lowest
still altitude, whether the drone hovered well below where it began (so began airborne), and a
time-weighted loiter centroid of slow samples. Nothing grows with the flight's length.
Positions are metres in the flight's local frame (launch_frame), times seconds since its first
fix, and z is the flight's vertical reference: alt_m, or height_m for a source without alt_m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

MAX_HORIZONTAL_SPEED_MPS = 60.0
MAX_VERTICAL_SPEED_MPS = 30.0
JUMP_SLACK_M = 1.0  # fix-to-fix GPS noise allowed on top of the speed limits
MIN_STEP_S = 0.05  # two fixes closer in time than this are judged as if this far apart
REANCHOR_FIXES = 5
START_RADIUS_M = 3.0  # the start cluster: still within this of where the track began
START_ALT_M = 3.0
EARLY_S = 3.0  # the launch position: the mean of the first seconds near the first fix
EARLY_RADIUS_M = 1.5
EARLY_ALT_M = 1.5
SAMPLE_STEP_S = 1.0
HEAD_SAMPLES = 30  # enough for the climb-out (launch_rules.CLIMB_WINDOW_S)
MAX_SAMPLE_GAP_S = 10.0  # a longer silence breaks still runs and carries no speed
STILL_RADIUS_M = 3.0
STILL_ALT_M = 2.0
STILL_MIN_S = 2.0
GPS_ALT_DRIFT_MPS = 0.02  # how fast a still receiver's altitude may wander (1.2 m a minute)
GROUND_BELOW_M = 8.0  # hovering this far below where the track began: it began airborne
BELOW_MIN_S = 1.0
GLITCH_QUIET_S = 3.0  # accepted fixes this soon after a rejected one are not evidence
SLOW_SPEED_MPS = 2.0
SLOW_VSPEED_MPS = 1.0
MAX_LOITER_WEIGHT_S = 2.0  # one sample never stands for more time than this


class Reading(NamedTuple):
    """One fix in the flight's frame; z is None when the fix lacks the vertical reference."""

    t_s: float
    x_m: float
    y_m: float
    z_m: float | None


def plausible(before: Reading, after: Reading) -> bool:
    """Whether a drone could have moved from one fix to the other."""
    dt_s = max(after.t_s - before.t_s, MIN_STEP_S)
    if math.hypot(after.x_m - before.x_m, after.y_m - before.y_m) > (
        MAX_HORIZONTAL_SPEED_MPS * dt_s + JUMP_SLACK_M
    ):
        return False
    if before.z_m is None or after.z_m is None:
        return True
    return abs(after.z_m - before.z_m) <= MAX_VERTICAL_SPEED_MPS * dt_s + JUMP_SLACK_M


def rounded(reading: Reading) -> Reading:
    """A reading as stored: centimetres and hundredths of a second are plenty."""
    t_s, x_m, y_m, z_m = reading
    values = (round(t_s, 2), round(x_m, 2), round(y_m, 2), None if z_m is None else round(z_m, 2))
    return _new(Reading, values)  # once a fix: without NamedTuple's Python-level __new__


_new = tuple.__new__


@dataclass
class Mean:
    """A running mean of positions (and of altitudes, where known)."""

    n: int = 0
    sum_x_m: float = 0.0
    sum_y_m: float = 0.0
    nz: int = 0
    sum_z_m: float = 0.0

    def add(self, reading: Reading) -> None:
        """Count one more reading."""
        self.n += 1
        self.sum_x_m += reading.x_m
        self.sum_y_m += reading.y_m
        if reading.z_m is not None:
            self.nz += 1
            self.sum_z_m += reading.z_m

    def xy(self) -> tuple[float, float]:
        """The mean position."""
        return self.sum_x_m / max(self.n, 1), self.sum_y_m / max(self.n, 1)

    def z(self) -> float | None:
        """The mean altitude, if any reading had one."""
        return self.sum_z_m / self.nz if self.nz else None


@dataclass
class StartCluster:
    """Where the track began and how long it stayed there.

    The launch position is the mean of the first EARLY_S seconds' fixes that are still within
    EARLY_RADIUS_M of the first one (the frame's origin): it evens out GPS noise on the ground,
    and a drone that lifts off at once is gone from there within a second.
    """

    open: bool = True
    duration_s: float = 0.0
    first_z_m: float | None = None
    early: Mean = field(default_factory=Mean)

    def add(self, reading: Reading) -> None:
        """Grow the cluster with an accepted fix, or close it when the fix has left."""
        if not self.open:
            return
        if self.early.n == 0:
            self.first_z_m = reading.z_m
        elif not _within(reading, *self.early.xy(), self.early.z(), START_RADIUS_M, START_ALT_M):
            self.open = False
            return
        self.duration_s = reading.t_s
        if reading.t_s <= EARLY_S and _within(
            reading, 0.0, 0.0, self.first_z_m, EARLY_RADIUS_M, EARLY_ALT_M
        ):
            self.early.add(reading)


def _within(
    reading: Reading, x_m: float, y_m: float, z_m: float | None, radius_m: float, alt_m: float
) -> bool:
    """Whether a reading is within radius_m and alt_m of a point (any z when one is unknown)."""
    if math.hypot(reading.x_m - x_m, reading.y_m - y_m) > radius_m:
        return False
    return z_m is None or reading.z_m is None or abs(reading.z_m - z_m) <= alt_m


@dataclass
class StillRun:
    """The latest stretch of samples that stayed within a few metres of their mean."""

    t_start_s: float
    t_end_s: float
    mean: Mean = field(default_factory=Mean)

    @property
    def duration_s(self) -> float:
        """How long the run has lasted."""
        return self.t_end_s - self.t_start_s

    def holds(self, reading: Reading) -> bool:
        """Whether a sample continues this run: near its mean (which follows a slow GPS drift)."""
        if reading.t_s - self.t_end_s > MAX_SAMPLE_GAP_S:
            return False
        return _within(reading, *self.mean.xy(), self.mean.z(), STILL_RADIUS_M, STILL_ALT_M)


@dataclass
class Loiter:
    """A time-weighted centroid (and spread) of the samples where the drone moved slowly."""

    weight_s: float = 0.0
    sum_x_m: float = 0.0
    sum_y_m: float = 0.0
    sum_r2_m2: float = 0.0

    def add(self, reading: Reading, weight_s: float) -> None:
        """Count a slow sample standing for weight_s seconds."""
        self.weight_s += weight_s
        self.sum_x_m += weight_s * reading.x_m
        self.sum_y_m += weight_s * reading.y_m
        self.sum_r2_m2 += weight_s * (reading.x_m**2 + reading.y_m**2)

    def centre(self) -> tuple[float, float, float]:
        """The centroid and the root-mean-square distance of the samples from it."""
        x_m, y_m = self.sum_x_m / self.weight_s, self.sum_y_m / self.weight_s
        spread_m2 = self.sum_r2_m2 / self.weight_s - x_m**2 - y_m**2
        return x_m, y_m, math.sqrt(max(spread_m2, 0.0))
