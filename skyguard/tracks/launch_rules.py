"""From a flight's evidence to a launch point: which evidence wins, where, and how sure.

Precedence: a track that starts on the ground gives its launch point directly; otherwise the
operator's position a source reports; otherwise an estimate from, in order, the landing point
(pilots land near themselves, ArduPilot RTL lands at home), the climb-out extrapolated down to a
known ground, the centre of the drone's slow (loiter) time, and the first fix. Radii are sized
so the truth lies inside them in at least 80 % of cases on real flights (`make eval`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from skyguard.tracks.launch_evidence import (
    GPS_ALT_DRIFT_MPS,
    MAX_SAMPLE_GAP_S,
    Reading,
    StillRun,
)
from skyguard.tracks.launch_state import Climb, EvidenceState

GROUND_HEIGHT_M = 3.0  # a first fix this close to the ground (height_m) is on the ground
GROUND_STILL_S = 5.0  # without height_m: still this long where the track began
GROUND_RADIUS_M = 5.0
OPERATOR_RADIUS_M = 5.0
OPERATOR_ACCURACY_M = 10.0  # assumed when the source states none
LAND_STILL_ENDED_S = 2.0  # still this long at the end of a finished flight: landed
LAND_STILL_LIVE_S = 60.0  # ... of a flight still reporting
LANDED_HEIGHT_M = 2.0
LAND_DESCENT_M = 5.0  # a landing is this far below the flight's highest point
LAND_FLOOR_M = 5.0  # and this close to its lowest still point (plus GPS altitude drift)
LAND_FLOOR_SHARE = 0.3  # or, once the flight is over, this share of its altitude range
LANDING_RADIUS_M = 15.0
CLIMB_WINDOW_S = 10.0  # the climb-out is read from the first seconds of the track
CLIMB_MIN_S = 3.0
CLIMB_MIN_GAIN_M = 3.0
CLIMB_DIP_M = 1.0  # a drop this far below the highest point so far ends the climb
CLIMB_MIN_MPS = 0.5
CLIMB_MAX_SPEED_MPS = 8.0  # faster over the ground than this is cruise, not a climb-out
CLIMB_MAX_SLOPE = 1.5  # metres over the ground per metre climbed: steeper is cruise
CLIMB_MAX_M = 150.0
CLIMB_FLOOR_M = 5.0
CLIMB_RADIUS_M = 10.0
CLIMB_RADIUS_SHARE = 0.5
LOITER_MIN_S = 10.0
LOITER_RADIUS_M = 20.0
LOITER_SPREAD_FACTOR = 1.5
LOITER_MAX_FROM_FIRST_M = 50.0
FIRST_RADIUS_M = 30.0
FIRST_SPEED_S = 5.0  # a drone first seen at speed v may have come from v * this farther
GLITCH_RADIUS_FACTOR = 4.0


class Estimate(NamedTuple):
    """A launch point in the flight's local frame."""

    x_m: float
    y_m: float
    radius_m: float
    method: str
    confidence: float
    basis: str
    ground_z_m: float | None = None
    lonlat: tuple[float, float] | None = None  # set when the point came as lon/lat


def estimate(state: EvidenceState, *, ended: bool) -> Estimate:
    """The best launch point the evidence gives."""
    found = ground_start(state) or operator_location(state)
    if found is not None:
        return found
    guess = _landed(state, ended=ended) or climb_out(state) or loiter_centre(state)
    guess = guess or first_fix(state)
    share = state.rejected_n / max(state.fixes_n, 1)  # a glitchy receiver: less sure, wider
    return Estimate(
        guess.x_m,
        guess.y_m,
        guess.radius_m * (1.0 + GLITCH_RADIUS_FACTOR * share),
        guess.method,
        round(guess.confidence * (1.0 - share), 2),
        guess.basis,
        guess.ground_z_m,
        guess.lonlat,
    )


def known_ground_z(state: EvidenceState) -> float | None:
    """The ground's z where the source said how high the drone was."""
    if state.z_ref == "height":
        return 0.0
    return state.ground_sum_m / state.ground_n if state.ground_n else None


def ground_start(state: EvidenceState) -> Estimate | None:
    """Where the track began, if it began on the ground."""
    early_z = state.start.early.z()
    if state.first_height_m is not None:
        if state.first_height_m > GROUND_HEIGHT_M:
            return None
        confidence = 0.95
    else:
        if state.start.duration_s < GROUND_STILL_S or state.began_airborne:
            return None
        confidence = 0.85
    x_m, y_m = state.start.early.xy()
    ground_z = known_ground_z(state)
    if ground_z is None and state.z_ref == "alt":
        ground_z = early_z
    radius_m = GROUND_RADIUS_M + (state.accuracy_m or 0.0)
    return Estimate(
        x_m, y_m, radius_m, "ground_start", confidence, "first fix on the ground", ground_z
    )


def operator_location(state: EvidenceState) -> Estimate | None:
    """The operator's position as the source last reported it (lon/lat, kept as such)."""
    if state.operator is None:
        return None
    lon, lat, accuracy_m = state.operator
    radius_m = OPERATOR_RADIUS_M + (OPERATOR_ACCURACY_M if accuracy_m is None else accuracy_m)
    return Estimate(
        math.nan,
        math.nan,
        radius_m,
        "operator_location",
        0.9,
        "operator location reported by the source",
        known_ground_z(state),
        (lon, lat),
    )


def landing_run(state: EvidenceState, *, ended: bool) -> StillRun | None:
    """The still run the track ends on, if it is a landing."""
    run = state.still
    needed_s = LAND_STILL_ENDED_S if ended else LAND_STILL_LIVE_S
    if run is None or run.duration_s < needed_s:
        return None
    if state.last_height_m is not None:
        return run if state.last_height_m <= LANDED_HEIGHT_M else None
    z_m, top_m = run.mean.z(), state.z_max_m
    if z_m is None or top_m is None:
        return run if ended else None  # no altitude at all: a still end is all there is
    if top_m - z_m < LAND_DESCENT_M:
        return None
    if state.still_floor_m is None or state.still_floor_m >= z_m:
        return run  # the lowest it ever stood still
    # GPS altitude wanders: the ground may read a little higher some minutes later; once the
    # flight is over, a still end is likely a landing, and old receivers wander further
    above_m = z_m - state.still_floor_m
    limit_m = LAND_FLOOR_M + GPS_ALT_DRIFT_MPS * abs(run.t_start_s - state.still_floor_s)
    if ended:
        limit_m = max(limit_m, LAND_FLOOR_SHARE * (top_m - state.still_floor_m))
    return run if above_m <= limit_m else None


def _landed(state: EvidenceState, *, ended: bool) -> Estimate | None:
    run = landing_run(state, ended=ended)
    if run is None:
        return None
    x_m, y_m = run.mean.xy()
    ground_z = known_ground_z(state)
    if ground_z is None and state.z_ref == "alt":
        ground_z = run.mean.z()
    return Estimate(x_m, y_m, LANDING_RADIUS_M, "estimated", 0.6, "landing point", ground_z)


def climb_out(state: EvidenceState) -> Estimate | None:
    """The first climb followed back down to the ground, where the ground's height is known."""
    first = state.head[0] if state.head else None
    ground_z = known_ground_z(state)
    if first is None or first.z_m is None:
        return None
    floor_m = state.still_floor_m
    if ground_z is None and floor_m is not None and floor_m < first.z_m - CLIMB_FLOOR_M:
        ground_z = floor_m  # the lowest it stood still: above the ground, so a shorter reach
    climb = _climb_velocity(state)
    if ground_z is None or climb is None or first.z_m <= ground_z:
        return None
    vx_mps, vy_mps, vz_mps = climb
    back_s = (first.z_m - ground_z) / vz_mps
    shift_x, shift_y = vx_mps * back_s, vy_mps * back_s
    scale = min(1.0, CLIMB_MAX_M / max(math.hypot(shift_x, shift_y), 1e-9))
    shift_x, shift_y = shift_x * scale, shift_y * scale
    radius_m = CLIMB_RADIUS_M + CLIMB_RADIUS_SHARE * math.hypot(shift_x, shift_y)
    return Estimate(
        first.x_m - shift_x,
        first.y_m - shift_y,
        radius_m,
        "estimated",
        0.5,
        "climb extrapolated to the ground",
        ground_z,
    )


def _climb_window(head: list[Reading]) -> tuple[list[Reading], bool]:
    """The first samples of the track, as long as the altitude keeps rising; whether it ended
    before the head did (then later samples no longer change it)."""
    window: list[Reading] = []
    top_m = -math.inf
    for reading in head:
        if reading.z_m is None or reading.t_s - head[0].t_s > CLIMB_WINDOW_S:
            return window, True
        if reading.z_m < top_m - CLIMB_DIP_M:
            return window, True
        top_m = max(top_m, reading.z_m)
        window.append(reading)
    return window, False


def _climb_velocity(state: EvidenceState) -> tuple[float, float, float] | None:
    """The velocity of the first seconds of the track, if they are a climb-out."""
    if state.settled_climb is not None:
        return state.settled_climb.velocity
    window, settled = _climb_window(state.head)
    velocity = _climb_of(window)
    if settled:
        state.settled_climb = Climb(velocity)
    return velocity


def _climb_of(window: list[Reading]) -> tuple[float, float, float] | None:
    if len(window) < 3 or window[-1].t_s - window[0].t_s < CLIMB_MIN_S:
        return None
    if max(r.z_m or 0.0 for r in window) - (window[0].z_m or 0.0) < CLIMB_MIN_GAIN_M:
        return None
    vx, vy, vz = _slopes(window)
    speed_mps = math.hypot(vx, vy)
    if vz < CLIMB_MIN_MPS or speed_mps > CLIMB_MAX_SPEED_MPS or speed_mps > CLIMB_MAX_SLOPE * vz:
        return None
    return vx, vy, vz


def _slopes(window: list[Reading]) -> tuple[float, float, float]:
    """The least-squares velocity (x, y, z per second) of some readings, all with a z."""
    n = len(window)
    t_mean = sum(r.t_s for r in window) / n
    x_mean = sum(r.x_m for r in window) / n
    y_mean = sum(r.y_m for r in window) / n
    z_mean = sum(r.z_m or 0.0 for r in window) / n
    tt = tx = ty = tz = 0.0
    for r in window:
        dt = r.t_s - t_mean
        tt += dt * dt
        tx += dt * (r.x_m - x_mean)
        ty += dt * (r.y_m - y_mean)
        tz += dt * ((r.z_m or 0.0) - z_mean)
    return tx / tt, ty / tt, tz / tt


def loiter_centre(state: EvidenceState) -> Estimate | None:
    """The centre of the time the drone spent moving slowly near where it was first seen.

    A drone milling about where it appeared is near its pilot; one that flew off and hovers
    far away is looking at something else, and says less about its pilot than its first fix.
    """
    if state.loiter.weight_s < LOITER_MIN_S or not state.head:
        return None
    x_m, y_m, spread_m = state.loiter.centre()
    from_first_m = math.hypot(x_m - state.head[0].x_m, y_m - state.head[0].y_m)
    if from_first_m > LOITER_MAX_FROM_FIRST_M:
        return None
    radius_m = max(LOITER_RADIUS_M, LOITER_SPREAD_FACTOR * spread_m, from_first_m)
    return Estimate(x_m, y_m, radius_m, "estimated", 0.35, "loiter centre", known_ground_z(state))


def first_fix(state: EvidenceState) -> Estimate:
    """The first fix, with a radius that grows with the speed the drone was first seen at."""
    head = state.head
    speed_mps = 0.0
    if len(head) >= 2 and head[1].t_s - head[0].t_s <= MAX_SAMPLE_GAP_S:
        dt_s = head[1].t_s - head[0].t_s
        speed_mps = math.hypot(head[1].x_m - head[0].x_m, head[1].y_m - head[0].y_m) / dt_s
    x_m, y_m = (head[0].x_m, head[0].y_m) if head else (0.0, 0.0)
    return Estimate(
        x_m,
        y_m,
        FIRST_RADIUS_M + FIRST_SPEED_S * speed_mps,
        "estimated",
        0.2,
        "first fix (no better evidence)",
        known_ground_z(state),
    )
