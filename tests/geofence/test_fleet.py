"""A mixed batch of many drones gives what advancing each drone on its own gives."""

from __future__ import annotations

import random

from skyguard.geofence.episodes import DroneState, Transition
from skyguard.geofence.fleet import advance_all, expire_all
from skyguard.geofence.index import Exemption
from skyguard.geofence.transitions import advance, expire
from tests.geofence.builders import (
    CENTRE,
    GEOD,
    MID_LAT,
    at,
    box_ring,
    east_of_edge,
    index,
    polygon,
    report,
    zone,
)


def flights():
    """Three drones: one crossing the square, one hovering inside, one jittering at the edge."""
    crossing = [
        report(GEOD.fwd(8.495, MID_LAT, 90.0, 100.0 * s)[:2], 10 * s, serial="A") for s in range(20)
    ]
    hovering = [report(CENTRE, s, serial="B", height_m=50.0) for s in range(0, 100, 5)]
    rng = random.Random(7)
    jitter = [report(east_of_edge(rng.uniform(-5, 5)), s, serial="C") for s in range(0, 100, 2)]
    return crossing + hovering + jitter


def test_two_mixed_batches_equal_advancing_each_drone():
    idx = index(
        zone(warning_buffer_m=100.0, exemptions=(Exemption("B", at(40), at(60)),)),
        zone({"type": "Point", "coordinates": [8.52, MID_LAT]}, radius_m=150.0),
    )
    batch = flights()
    random.Random(1).shuffle(batch)  # the second half holds late reports too
    halves = (batch[: len(batch) // 2], batch[len(batch) // 2 :])
    states: dict[str, DroneState] = {}
    together: dict[str, list[Transition]] = {serial: [] for serial in "ABC"}
    for half in halves:
        for serial, outcome in advance_all(states, half, idx).items():
            states[serial] = outcome.state
            together[serial] += outcome.transitions
    for serial in "ABC":
        state: DroneState | None = None
        transitions: list[Transition] = []
        for half in halves:
            outcome = advance(state, [r for r in half if r.serial == serial], idx)
            state, transitions = outcome.state, transitions + outcome.transitions
        assert (states[serial], together[serial]) == (state, transitions)


STRIP = polygon(box_ring(8.5140, 47.40, 8.5144, 47.41))  # between two of A's reports


def test_advance_all_transitions_match_one_drone_at_a_time():
    idx = index(zone(), zone(STRIP))
    batch = flights()
    alone = {
        serial: advance(None, [r for r in batch if r.serial == serial], idx) for serial in "ABC"
    }
    together = advance_all({}, batch, idx)
    for serial in "ABC":
        assert together[serial] == alone[serial]
    assert [t.close_reason for t in together["A"].transitions if t.kind == "close"] == [
        "exited",
        "crossed",
    ]


def test_report_by_report_batches_equal_advancing_each_drone():
    """Live traffic: each batch holds one report per drone, so each drone's chain starts at
    its last applied report, which the fleet judges again only where a segment needs it."""
    idx = index(zone(warning_buffer_m=100.0), zone(STRIP, ceiling_m=120.0))
    batch = sorted(flights(), key=lambda r: r.time)
    states: dict[str, DroneState] = {}
    alone: dict[str, DroneState | None] = dict.fromkeys("ABC")
    for one in batch:
        together = advance_all(states, [one], idx)[one.serial]
        outcome = advance(alone[one.serial], [one], idx)
        assert together == outcome
        states[one.serial] = together.state
        alone[one.serial] = outcome.state


def test_expire_all_equals_expire_per_drone():
    idx = index(zone(active_from=at(105)))
    states = {k: v.state for k, v in advance_all({}, flights(), idx).items()}
    for now in (at(106), at(150), at(200)):
        together = expire_all(states.values(), now, idx)
        assert together == {serial: expire(state, now, idx) for serial, state in states.items()}
    opened = expire_all(states.values(), at(106), idx)
    assert [t.kind for t in opened["B"][1]] == ["open"]
