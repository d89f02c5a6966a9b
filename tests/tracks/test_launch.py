"""The launch-point estimator on synthetic flights whose launch point is known exactly.

Every flight takes off from ORIGIN (ground at GROUND_M AMSL). Tracks are flown through
waypoints (t_s, x_m east, y_m north, height_m) at 5 Hz with a little GPS noise, and fed to
LaunchEvidence in batches of 50 with a JSON round trip between batches, as the service does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from skyguard.geofence.shapes import wgs84
from skyguard.tracks.launch import Fix, LaunchEvidence, LaunchPoint
from skyguard.tracks.launch_frame import to_local, to_lonlat
from tests.geofence.test_purity import forbidden_imports

ORIGIN = (8.5417, 47.3769)
GROUND_M = 410.0
T0_S = 1_717_243_200.0
RATE_HZ = 5.0
BATCH = 50
TRACKS = Path(__file__).resolve().parents[2] / "skyguard" / "tracks"

# (t_s, x_m, y_m, height_m): on the ground 20 s, a slanted climb-out (1 m east per metre up),
# out to a survey point, back over a spot near the launch point, down and standing there.
PATROL = [
    (0, 0, 0, 0),
    (20, 0, 0, 0),
    (40, 40, 0, 40),
    (100, 250, 150, 40),
    (130, 250, 150, 40),
    (190, 6, -4, 40),
    (210, 6, -4, 0),
    (230, 6, -4, 0),
]
LANDING = (6.0, -4.0)
# Still flying: climbs out, cruises, comes down to 50 m and hovers there.
HOVERING = [*PATROL[:4], (160, 100, 60, 50), (250, 100, 60, 50)]
# Still flying: up to 60 m, down to 10 m and hovering there, still, for 90 s.
LOW_HOVER = [*PATROL[:3], (60, 40, 0, 60), (100, 40, 0, 10), (190, 40, 0, 10)]
# Still flying: climbs straight up to 30 m and hovers over a few spots near the launch point.
MILLING = [(0, 0, 0, 0), (20, 0, 0, 0), (35, 0, 0, 30)] + [
    (35 + 20 * k + dwell, x, y, 30)
    for k, (x, y) in enumerate([(-10, 5), (8, 10), (5, -12), (-6, -6)])
    for dwell in (8, 20)
]


def fly(
    waypoints: Sequence[tuple[float, float, float, float]],
    *,
    heights: bool = False,
    seed: int = 7,
    noise_m: float = 0.3,
) -> list[Fix]:
    """5 Hz fixes along the waypoints, with altitude AMSL (and height_m if asked)."""
    table = np.array(waypoints, dtype=np.float64)
    t_s = np.arange(table[0, 0], table[-1, 0] + 1e-9, 1.0 / RATE_HZ)
    rng = np.random.default_rng(seed)
    x_m, y_m, h_m = (
        np.interp(t_s, table[:, 0], table[:, i]) + rng.normal(0.0, noise_m, t_s.size)
        for i in (1, 2, 3)
    )
    lons, lats = lonlats(x_m, y_m)
    return [
        Fix(
            t_s=T0_S + t,
            lon=lon,
            lat=lat,
            alt_m=GROUND_M + h,
            height_m=h if heights else None,
        )
        for t, lon, lat, h in zip(t_s.tolist(), lons, lats, h_m.tolist(), strict=True)
    ]


def lonlats(x_m: np.ndarray, y_m: np.ndarray) -> tuple[list[float], list[float]]:
    """Local metres around ORIGIN as lon/lat lists."""
    azimuth = np.degrees(np.arctan2(x_m, y_m))
    lons, lats, _ = wgs84().fwd(
        np.full(x_m.shape, ORIGIN[0]), np.full(x_m.shape, ORIGIN[1]), azimuth, np.hypot(x_m, y_m)
    )
    return np.asarray(lons).tolist(), np.asarray(lats).tolist()


def seen_from(fixes: Sequence[Fix], height_m: float) -> list[Fix]:
    """The track from its first fix height_m above the ground on."""
    start = next(i for i, f in enumerate(fixes) if (f.alt_m or 0.0) >= GROUND_M + height_m)
    return list(fixes[start:])


def until(fixes: Sequence[Fix], t_s: float) -> list[Fix]:
    """The track up to t_s seconds after T0."""
    return [f for f in fixes if f.t_s <= T0_S + t_s]


def replay(fixes: Sequence[Fix], batch: int = BATCH) -> LaunchEvidence:
    """Fixes fed in batches, the evidence stored as JSON and reloaded between batches."""
    evidence = LaunchEvidence.empty()
    for start in range(0, len(fixes), batch):
        evidence = LaunchEvidence.from_json(json.loads(json.dumps(evidence.to_json())))
        evidence.add(fixes[start : start + batch])
    return evidence


def off_m(lon: float, lat: float, to: tuple[float, float] = (0.0, 0.0)) -> float:
    """How far a lon/lat is from a point in metres east/north of ORIGIN."""
    x_m, y_m = to_local(ORIGIN[0], ORIGIN[1], np.array([lon]), np.array([lat]))
    return math.hypot(float(x_m[0]) - to[0], float(y_m[0]) - to[1])


def glitched(fixes: list[Fix], at_s: float, seconds: float, **jump: float) -> list[Fix]:
    """The track with fixes from at_s to at_s + seconds moved (alt_m, or lon/lat degrees)."""
    start, stop = T0_S + at_s, T0_S + at_s + seconds
    return [
        replace(f, **{k: getattr(f, k) + v for k, v in jump.items()})
        if start <= f.t_s < stop
        else f
        for f in fixes
    ]


def with_operator(fixes: list[Fix], x_m: float, y_m: float, accuracy_m: float) -> list[Fix]:
    """Remote ID style: every fix carries the operator's position and an accuracy."""
    lon, lat = to_lonlat(ORIGIN[0], ORIGIN[1], x_m, y_m)
    return [replace(f, operator_lon=lon, operator_lat=lat, accuracy_m=accuracy_m) for f in fixes]


GROUND = ("ground_start", "first fix on the ground")
OPERATOR = ("operator_location", "operator location reported by the source")
CLIMB = ("estimated", "climb extrapolated to the ground")
LANDED = ("estimated", "landing point")
LOITER = ("estimated", "loiter centre")
FIRST = ("estimated", "first fix (no better evidence)")
HERE = (0.0, 0.0)

CASES = [  # the track, whether it has ended, (method, basis), max error m, the truth (x, y)
    pytest.param(lambda: fly(PATROL), True, GROUND, 1.0, HERE, id="ground start"),
    pytest.param(lambda: until(fly(PATROL), 60), False, GROUND, 1.0, HERE, id="in flight"),
    pytest.param(
        lambda: fly(PATROL[1:], heights=True), False, GROUND, 1.0, HERE, id="height_m, not still"
    ),
    pytest.param(
        lambda: with_operator(seen_from(fly(PATROL), 30), -12.0, 8.0, 3.0),
        False,
        OPERATOR,
        0.5,
        (-12.0, 8.0),
        id="operator location",
    ),
    pytest.param(
        lambda: until(seen_from(fly(PATROL, heights=True), 20), 60),
        False,
        CLIMB,
        3.0,
        HERE,
        id="first seen climbing at 20 m, height_m known",
    ),
    pytest.param(
        lambda: seen_from(fly(PATROL), 20), True, LANDED, 8.0, HERE, id="seen at 20 m, landed"
    ),
    pytest.param(
        lambda: until(seen_from(fly(PATROL), 20), 35),
        False,
        FIRST,
        25.0,
        HERE,
        id="seen at 20 m, flying: a wide radius",
    ),
    pytest.param(
        lambda: seen_from(fly(HOVERING), 20),
        False,
        FIRST,
        25.0,
        HERE,
        id="seen at 20 m, hovering 100 m away: the first fix says more",
    ),
    pytest.param(
        lambda: seen_from(fly(MILLING), 20), False, LOITER, 12.0, HERE, id="milling about"
    ),
    pytest.param(
        lambda: glitched(glitched(fly(PATROL), 10, 1.0, alt_m=300.0), 80, 0.6, lat=0.0045),
        True,
        GROUND,
        1.0,
        HERE,
        id="300 m altitude glitch on the ground, 500 m jump in flight",
    ),
    pytest.param(
        lambda: glitched(seen_from(fly(PATROL), 20), 150, 1.0, alt_m=300.0),
        True,
        LANDED,
        8.0,
        HERE,
        id="seen at 20 m, 300 m altitude glitch, landed",
    ),
]


@pytest.mark.parametrize(("track", "ended", "expected", "max_error_m", "truth"), CASES)
def test_launch_point(track, ended, expected, max_error_m, truth):
    point = replay(track()).estimate(ended=ended)
    assert (point.method, point.basis) == expected
    error_m = off_m(point.lon, point.lat, truth)
    assert error_m <= max_error_m
    assert error_m <= point.radius_m  # the truth lies within the stated radius
    assert 0.0 < point.confidence <= 1.0
    assert 0.0 < point.radius_m < 1000.0


def test_the_exact_methods_are_surer_and_tighter_than_estimates():
    ground = replay(fly(PATROL)).estimate(ended=True)
    landing = replay(seen_from(fly(PATROL), 20)).estimate(ended=True)
    first = replay(until(seen_from(fly(PATROL), 20), 35)).estimate(ended=False)
    assert ground.confidence > landing.confidence > first.confidence
    assert ground.radius_m < landing.radius_m < first.radius_m


def test_the_ground_altitude_is_known_from_a_ground_start_and_from_height_m():
    assert replay(fly(PATROL)).estimate(ended=True).ground_alt_m == pytest.approx(GROUND_M, abs=1)
    climb = replay(until(seen_from(fly(PATROL, heights=True), 20), 60)).estimate(ended=False)
    assert climb.ground_alt_m == pytest.approx(GROUND_M, abs=1)


def test_operator_accuracy_widens_the_radius():
    track = seen_from(fly(PATROL), 30)
    tight = replay(with_operator(track, 0, 0, 2.0)).estimate(ended=False)
    loose = replay(with_operator(track, 0, 0, 40.0)).estimate(ended=False)
    assert loose.radius_m - tight.radius_m == pytest.approx(38.0)


def test_a_track_that_starts_still_in_the_air_is_not_a_ground_start_once_it_goes_lower():
    hover_first = [(0, 80, 0, 40), (30, 80, 0, 40), (60, 5, 5, 10), (75, 5, 5, 10), (90, 5, 5, 0)]
    evidence = replay(until(fly(hover_first), 25))
    assert evidence.estimate(ended=False).method == "ground_start"  # nothing says otherwise yet
    point = replay(fly([*hover_first, (110, 5, 5, 0)])).estimate(ended=True)
    assert (point.method, point.basis) == ("estimated", "landing point")
    assert off_m(point.lon, point.lat, (5, 5)) < 2.0


def test_the_estimate_is_valid_after_the_first_fix_and_follows_the_evidence():
    track = seen_from(fly([*PATROL, (300, 6, -4, 0)]), 20)  # standing for 90 s at the end
    evidence = LaunchEvidence.empty()
    bases = []
    for fix in track[:1] + track[1:][::10]:
        evidence.add([fix])
        bases.append(evidence.estimate(ended=False).basis)
    assert bases[0] == "first fix (no better evidence)"
    assert bases[-1] == "landing point"  # over a minute on the ground, still reporting
    with pytest.raises(ValueError, match="no fix"):
        LaunchEvidence.empty().estimate(ended=False)


@pytest.mark.parametrize(
    ("track", "ended", "landed_at"),
    [
        pytest.param(lambda: fly(PATROL), True, LANDING, id="landed, flight over"),
        pytest.param(lambda: fly(PATROL), False, None, id="landed 20 s ago, still reporting"),
        pytest.param(
            lambda: fly([*PATROL, (300, 6, -4, 0)]), False, LANDING, id="on the ground 90 s"
        ),
        pytest.param(lambda: until(fly(PATROL), 150), False, None, id="cruising"),
        pytest.param(lambda: until(fly(PATROL), 150), True, None, id="lost while cruising"),
        pytest.param(lambda: until(fly(PATROL), 125), False, None, id="hovering at 40 m"),
        pytest.param(lambda: seen_from(fly(HOVERING), 20), False, None, id="hovering at 50 m"),
        pytest.param(lambda: until(fly(PATROL), 205), True, None, id="lost while descending"),
        pytest.param(lambda: fly(LOW_HOVER), False, None, id="hovering 90 s at 10 m"),
    ],
)
def test_landing(track, ended, landed_at):
    landing = replay(track()).landing(ended=ended)
    if landed_at is None:
        assert landing is None
    else:
        assert landing is not None
        assert off_m(*landing, landed_at) < 1.0


def test_the_glitch_filter_follows_a_receiver_that_really_moved():
    shifted = glitched(fly(PATROL), 150, 1000.0, lat=0.0009)  # 100 m north from t=150 s on
    landing = replay(shifted).landing(ended=True)
    assert landing is not None
    assert off_m(*landing, (LANDING[0], LANDING[1] + 100.0)) < 2.0


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: [], id="empty"),
        pytest.param(lambda: fly(PATROL)[:1], id="one fix"),
        pytest.param(lambda: fly(PATROL), id="ground start"),
        pytest.param(lambda: with_operator(fly(PATROL), 3, 3, 5.0), id="operator"),
        pytest.param(lambda: seen_from(fly(PATROL, heights=True), 20), id="heights"),
    ],
)
def test_evidence_json_round_trip(make):
    fixes = make()
    evidence = LaunchEvidence.empty()
    evidence.add(fixes)
    data = evidence.to_json()
    text = json.dumps(data, allow_nan=False)  # JSONB refuses NaN
    again = LaunchEvidence.from_json(json.loads(text))
    assert again.to_json() == data
    if fixes:
        for ended in (False, True):
            assert again.estimate(ended=ended) == evidence.estimate(ended=ended)
            assert again.landing(ended=ended) == evidence.landing(ended=ended)
    assert replay(fixes).to_json() == data  # batches and reloads change nothing


def test_evidence_refuses_what_it_did_not_write():
    with pytest.raises(ValueError, match="format"):
        LaunchEvidence.from_json({"v": 99})
    with pytest.raises(ValueError, match="malformed"):
        LaunchEvidence.from_json({"v": 1, "lon0": 8.5})


def test_evidence_stays_small_for_a_three_hour_flight():
    hours = 3
    corners = [(300.0, 0.0), (300.0, 300.0), (0.0, 300.0), (0.0, 0.0)]
    laps = [(30.0 + 60.0 * i, *corners[i % 4], 60.0) for i in range(1, hours * 3600 // 60 + 1)]
    track = fly([(0, 0, 0, 0), (30, 0, 0, 0), *laps], noise_m=0.5)
    assert len(track) > hours * 3600 * RATE_HZ - 1000
    evidence = LaunchEvidence.empty()
    sizes = []
    for start in range(0, len(track), BATCH):
        evidence.add(track[start : start + BATCH])
        if start % (BATCH * 40) == 0:
            sizes.append(len(json.dumps(evidence.to_json())))
    assert max(sizes) < 5000
    assert sizes[-1] - sizes[len(sizes) // 4] < 100  # no growth with the flight's length
    assert evidence.estimate(ended=False).method == "ground_start"


def test_a_source_with_height_only():
    fixes = [replace(f, alt_m=None) for f in fly(PATROL, heights=True)]
    point = replay(fixes).estimate(ended=True)
    assert point.method == "ground_start"
    assert point.ground_alt_m is None  # heights say nothing of the altitude AMSL
    airborne = [replace(f, alt_m=None) for f in seen_from(fly(PATROL, heights=True), 20)]
    landing = replay(airborne).landing(ended=True)
    assert landing is not None
    assert off_m(*landing, LANDING) < 1.0


def test_as_json():
    point = LaunchPoint(8.1234567891, 47.5, 12.345, "estimated", 0.456, "loiter centre", None)
    assert point.as_json() == {
        "lon": 8.1234568,
        "lat": 47.5,
        "radius_m": 12.3,
        "method": "estimated",
        "confidence": 0.46,
        "basis": "loiter centre",
        "ground_alt_m": None,
    }


def test_the_estimator_imports_nothing_of_web_or_storage():
    files = sorted(TRACKS.glob("launch*.py"))
    assert TRACKS / "launch.py" in files
    offenders = {
        path.name: bad
        for path in files
        if (bad := forbidden_imports(path.read_text(encoding="utf-8"), "skyguard.tracks"))
    }
    assert offenders == {}
