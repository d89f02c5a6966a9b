"""Alerts follow transitions: open, update and close episodes through batches and time."""

from __future__ import annotations

import random

import pytest

from skyguard.geofence.episodes import EngineConfig
from skyguard.geofence.index import Exemption, ZoneIndex
from skyguard.geofence.schedule import parse_schedule
from skyguard.geofence.transitions import advance, expire
from tests.geofence.builders import (
    CENTRE,
    GEOD,
    MID_LAT,
    at,
    east_of_edge,
    index,
    polygon,
    report,
    zone,
)

INSIDE = CENTRE
OUTSIDE_FAR = east_of_edge(1000.0)


def summary(transitions):
    """(kind, alert kind, close reason, seconds after T0) of each transition."""
    return [
        (t.kind, t.alert_kind, t.close_reason, round((t.at - at(0)).total_seconds(), 3))
        for t in transitions
    ]


def live(reports, idx, state=None, config=EngineConfig()):
    """Apply reports one batch each, as a live feed does; all transitions in order."""
    transitions = []
    for r in reports:
        state, emitted, _, _ = advance(state, [r], idx, config)
        transitions += emitted
    return state, transitions


def in_batches(reports, idx, size, state=None):
    transitions = []
    for start in range(0, len(reports), size):
        state, emitted, _, _ = advance(state, reports[start : start + size], idx)
        transitions += emitted
    return state, transitions


# First seen inside, entry, updates


def test_first_seen_inside_opens():
    z = zone(category="restricted")
    state, transitions, late, duplicates = advance(None, [report(INSIDE)], index(z))
    assert summary(transitions) == [("open", "breach", None, 0.0)]
    opened = transitions[0]
    assert (opened.zone_id, opened.zone_version, opened.severity) == (z.id, 1, "high")
    assert opened.entry == opened.position == INSIDE
    assert opened.depth_m == pytest.approx(GEOD.inv(*INSIDE, 8.51, MID_LAT)[2], abs=1.0)
    assert [e.key for e in state.episodes] == [(z.id, "breach")]
    assert late == duplicates == ()


def test_entry_opens_once_and_each_batch_updates_at_most_once():
    idx = index(zone())
    outside = [report(OUTSIDE_FAR, s) for s in range(3)]
    inside = [report(east_of_edge(-10.0 * (s - 2)), s) for s in range(3, 13)]
    state, transitions, _, _ = advance(None, outside + inside, idx)
    assert summary(transitions) == [("open", "breach", None, 3.0), ("update", "breach", None, 12.0)]
    update = transitions[1]
    assert update.position == inside[-1].position
    assert update.entry == inside[0].position
    assert update.max_depth_m == pytest.approx(100.0, abs=0.1)
    more = [report(east_of_edge(-30.0), s) for s in range(13, 18)]
    state, transitions, _, _ = advance(state, more, idx)
    assert summary(transitions) == [("update", "breach", None, 17.0)]
    assert transitions[0].depth_m == pytest.approx(30.0, abs=0.1)
    assert transitions[0].max_depth_m == pytest.approx(100.0, abs=0.1)


# Hysteresis


def jitter_track(seed):
    """Five minutes at 1 Hz within ±5 m of the east edge, then away to the east."""
    rng = random.Random(seed)
    offsets = [rng.uniform(-5.0, 5.0) if seed else (5.0 if s % 2 else -5.0) for s in range(300)]
    track = [report(east_of_edge(offset), s) for s, offset in enumerate(offsets)]
    return [*track, report(east_of_edge(100.0), 300)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("batch", [1, 7, 301])
def test_jitter_across_the_boundary_yields_one_alert(seed, batch):
    track = jitter_track(seed)
    first_inside = next(r.time for r in track if r.lon <= 8.51)
    _, transitions = in_batches(track, index(zone()), batch)
    opens = [t for t in transitions if t.kind == "open"]
    closes = [t for t in transitions if t.kind == "close"]
    assert len(opens) == 1 and opens[0].at == first_inside
    assert [(c.close_reason, c.at) for c in closes] == [("exited", at(300))]


@pytest.mark.parametrize(
    ("outside_m", "expected"),
    [
        (25.0, [("open", "breach", None, 0.0), ("close", "breach", "exited", 1.0)]),
        (20.0, [("open", "breach", None, 0.0), ("close", "breach", "exited", 1.0)]),
        (10.0, [("open", "breach", None, 0.0), ("close", "breach", "exited", 31.0)]),
    ],
)
def test_exit_closes_at_once_far_out_or_after_the_exit_time(outside_m, expected):
    reports = [report(INSIDE, 0)] + [report(east_of_edge(outside_m), s) for s in range(1, 41)]
    _, transitions = live(reports, index(zone()))
    assert summary(transitions) == expected


def test_coming_back_within_the_exit_time_keeps_the_episode():
    reports = [report(INSIDE, 0)] + [report(east_of_edge(10.0), s) for s in range(1, 29)]
    reports += [report(INSIDE, 29)] + [report(east_of_edge(10.0), s) for s in range(30, 50)]
    state, transitions = live(reports, index(zone()))
    assert [t.kind for t in transitions if t.kind != "update"] == ["open"]
    assert state.episodes[0].outside_since == at(30)


def test_exit_timer_also_runs_out_in_expire():
    idx = index(zone())
    state, _ = live([report(INSIDE, 0), report(east_of_edge(10.0), 1)], idx)
    state, transitions = expire(state, at(30), idx)
    assert transitions == []
    state, transitions = expire(state, at(31.5), idx)
    assert summary(transitions) == [("close", "breach", "exited", 31.0)]
    assert transitions[0].position == east_of_edge(10.0)
    assert state.episodes == ()


@pytest.mark.parametrize(
    ("height_m", "closes_at"),
    [(145.0, 1.0), (130.0, 31.0), (120.0, None)],
)
def test_climbing_out_of_the_band_is_an_exit_too(height_m, closes_at):
    reports = [report(INSIDE, 0, height_m=100.0)]
    reports += [report(INSIDE, s, height_m=height_m) for s in range(1, 41)]
    _, transitions = live(reports, index(zone(ceiling_m=120.0)))
    closes = [t for t in transitions if t.kind == "close"]
    expected = [] if closes_at is None else [("close", "breach", "exited", closes_at)]
    assert summary(closes) == expected


# Segment crossing

STRIP_WEST = 8.5
STRIP_EAST = float(GEOD.fwd(STRIP_WEST, MID_LAT, 90.0, 30.0)[0])
STRIP = polygon(
    [
        (STRIP_WEST, 47.40),
        (STRIP_EAST, 47.40),
        (STRIP_EAST, 47.41),
        (STRIP_WEST, 47.41),
        (STRIP_WEST, 47.40),
    ]
)


def strip_pass(seconds=10.0, start_height=None, end_height=None, west_m=40.0, east_m=90.0):
    """Two reports: west_m west of the strip's west edge, then east_m east of that edge."""
    west = GEOD.fwd(STRIP_WEST, MID_LAT, 270.0, west_m)[:2]
    east = GEOD.fwd(STRIP_WEST, MID_LAT, 90.0, east_m)[:2]
    return [
        report(west, 0, height_m=start_height),
        report(east, seconds, height_m=end_height),
    ]


def test_a_segment_through_a_thin_zone_opens_and_closes():
    state, transitions, _, _ = advance(None, strip_pass(), index(zone(STRIP)))
    # 130 m in 10 s: in at 40 m (3.077 s), out at 70 m (5.385 s)
    assert summary(transitions) == [
        ("open", "breach", None, 3.077),
        ("close", "breach", "crossed", 5.385),
    ]
    opened, closed = transitions
    assert opened.entry == opened.position
    assert opened.entry[0] == pytest.approx(STRIP_WEST, abs=1e-7)
    assert opened.entry[1] == pytest.approx(MID_LAT, abs=1e-6)
    assert closed.position[0] == pytest.approx(STRIP_EAST, abs=1e-7)
    assert opened.depth_m == pytest.approx(15.0, abs=0.1)
    assert state.episodes == ()


@pytest.mark.parametrize("buffer_m", [0.0, 100.0, 5000.0])
def test_a_crossing_between_two_reports_in_the_warning_buffer(buffer_m):
    # both ends are measured outside the strip (40 m and 60 m), closer than the segment is long
    transitions = advance(None, strip_pass(), index(zone(STRIP, warning_buffer_m=buffer_m)))[1]
    crossed = [(t.kind, t.alert_kind, t.close_reason) for t in transitions if t.close_reason]
    assert crossed == [("close", "breach", "crossed")]


def test_a_crossing_is_found_across_batches_too():
    idx = index(zone(STRIP))
    _state, transitions = live(strip_pass(), idx)
    assert [t.close_reason for t in transitions] == [None, "crossed"]


@pytest.mark.parametrize(
    ("start_height", "end_height", "crossed"),
    [
        (50.0, 150.0, True),  # 92 m in the middle of the strip
        (100.0, 200.0, False),  # 142 m: above the 120 m ceiling
        (None, None, True),  # unknown: assumed in the band
    ],
)
def test_a_crossing_checks_the_interpolated_altitude(start_height, end_height, crossed):
    idx = index(zone(STRIP, ceiling_m=120.0))
    _, transitions, _, _ = advance(None, strip_pass(10.0, start_height, end_height), idx)
    assert len(transitions) == (2 if crossed else 0)
    if crossed:
        assert transitions[0].altitude_assumed is (start_height is None)


def test_a_crossing_checks_the_interpolated_time():
    exempt = Exemption("D1", at(4), at(5))  # covers the middle of the run inside, at 4.23 s
    idx = index(zone(STRIP, exemptions=(exempt,)))
    assert advance(None, strip_pass(), idx).transitions == []
    idx = index(zone(STRIP, active_until=at(3)))  # ends before the drone gets there
    assert advance(None, strip_pass(), idx).transitions == []


@pytest.mark.parametrize(
    ("start_height", "end_height", "crossed"),
    [
        (10.0, 25.0, False),  # below the 30 m floor all along
        (10.0, 90.0, True),  # climbs through it: 44 m in the middle of the run inside
    ],
)
def test_a_crossing_checks_the_floor_along_the_climb(start_height, end_height, crossed):
    idx = index(zone(STRIP, floor_m=30.0, ceiling_m=200.0))
    _, transitions, _, _ = advance(None, strip_pass(10.0, start_height, end_height), idx)
    assert len(transitions) == (2 if crossed else 0)


def test_no_crossing_when_the_zone_or_an_exemption_rules_out_the_whole_segment():
    assert advance(None, strip_pass(), index(zone(STRIP, active_from=at(11)))).transitions == []
    exempt = Exemption("D1", at(0), at(10.5))  # covers the whole segment
    assert advance(None, strip_pass(), index(zone(STRIP, exemptions=(exempt,)))).transitions == []
    banded = Exemption("D1", at(0), at(10.5), floor_m=100.0)  # not at the drone's height
    crossed = advance(None, strip_pass(10.0, 50.0, 50.0), index(zone(STRIP, exemptions=(banded,))))
    assert len(crossed.transitions) == 2


@pytest.mark.parametrize(("window", "crossed"), [("14:01", True), ("14:03", False)])
def test_a_crossing_checks_the_weekly_schedule_between_the_reports(window, crossed):
    # T0 is 14:00 in Zurich; the reports are outside a one-minute window at both ends, and
    # the run inside the strip, 61.5 s to 107.7 s, is inside the window from 14:01 only
    hours, minutes = window.split(":")
    end = f"{hours}:{int(minutes) + 1:02d}"
    weekly = {"days": ["sat"], "start": window, "end": end}
    idx = index(
        zone(STRIP, schedule=parse_schedule({"timezone": "Europe/Zurich", "windows": [weekly]}))
    )
    config = EngineConfig(silence_timeout_s=300.0)
    transitions = advance(None, strip_pass(seconds=200.0), idx, config).transitions
    assert [t.close_reason for t in transitions] == ([None, "crossed"] if crossed else [])


def test_no_crossing_is_assumed_over_a_silence_or_an_impossible_jump():
    idx = index(zone(STRIP))
    assert advance(None, strip_pass(seconds=61.0), idx).transitions == []
    assert advance(None, strip_pass(seconds=0.5, east_m=200.0), idx).transitions == []


def test_no_crossing_when_an_endpoint_is_inside():
    idx = index(zone(STRIP))
    reports = strip_pass(west_m=40.0, east_m=10.0)  # ends inside the strip
    _, transitions, _, _ = advance(None, reports, idx)
    assert summary(transitions) == [("open", "breach", None, 10.0)]


def test_a_crossing_over_the_antimeridian():
    strip = polygon(
        [
            (179.9995, -0.01),
            (-179.9995, -0.01),
            (-179.9995, 0.01),
            (179.9995, 0.01),
            (179.9995, -0.01),
        ]
    )
    reports = [report((179.999, 0.0), 0), report((-179.999, 0.0), 10)]
    _, transitions, _, _ = advance(None, reports, index(zone(strip)))
    assert summary(transitions) == [
        ("open", "breach", None, 2.5),
        ("close", "breach", "crossed", 7.5),
    ]
    assert transitions[0].entry[0] == pytest.approx(179.9995, abs=1e-7)
    assert transitions[1].position[0] == pytest.approx(-179.9995, abs=1e-7)


# Zones and exemptions starting and ending


def test_a_zone_starting_while_the_drone_is_inside_opens_via_expire():
    idx = index(zone(active_from=at(60)))
    state, transitions = live([report(INSIDE, s) for s in range(0, 51, 10)], idx)
    assert transitions == []
    state, transitions = expire(state, at(59), idx)
    assert transitions == []
    state, transitions = expire(state, at(61), idx)
    assert summary(transitions) == [("open", "breach", None, 61.0)]
    assert transitions[0].position == INSIDE
    state, transitions = expire(state, at(62), idx)
    assert transitions == []


def test_a_zone_starting_while_the_drone_is_inside_opens_at_the_next_report():
    idx = index(zone(active_from=at(60)))
    _, transitions = live([report(INSIDE, s) for s in range(0, 71, 10)], idx)
    assert summary(transitions) == [
        ("open", "breach", None, 60.0),
        ("update", "breach", None, 70.0),
    ]


def test_a_silent_drone_is_not_opened_by_a_starting_zone():
    idx = index(zone(active_from=at(60)))
    state, _ = live([report(INSIDE, 0)], idx)
    _, transitions = expire(state, at(61), idx)
    assert transitions == []


ENDS_AT_60 = {"active_until": at(60)}
SATURDAY_UNTIL_15 = {
    "schedule": parse_schedule(
        {
            "timezone": "Europe/Zurich",
            "windows": [{"days": ["sat"], "start": "13:00", "end": "15:00"}],
        }
    )
}


@pytest.mark.parametrize(
    ("spec", "ends"), [(ENDS_AT_60, 60.0), (SATURDAY_UNTIL_15, 3600.0)], ids=["window", "schedule"]
)
def test_a_zone_ending_closes_its_episodes(spec, ends):
    idx = index(zone(**spec))
    state, _ = live([report(INSIDE, ends - 10)], idx)
    _, transitions = expire(state, at(ends - 1), idx)
    assert transitions == []
    _, transitions = expire(state, at(ends), idx)
    assert summary(transitions) == [("close", "breach", "zone_ended", ends)]
    _, transitions = live([report(INSIDE, ends)], idx, state)
    assert summary(transitions) == [("close", "breach", "zone_ended", ends)]


def test_an_exemption_closes_and_its_end_reopens():
    idx = index(zone(exemptions=(Exemption("D1", at(30), at(60)),)))
    _, transitions, _, _ = advance(None, [report(INSIDE, s) for s in range(0, 91, 5)], idx)
    assert summary(transitions) == [
        ("open", "breach", None, 0.0),
        ("close", "breach", "exempted", 30.0),
        ("open", "breach", None, 60.0),
        ("update", "breach", None, 90.0),
    ]


def test_an_exemption_starting_closes_via_expire():
    idx = index(zone(exemptions=(Exemption("D1", at(30), at(60)),)))
    state, _ = live([report(INSIDE, 0), report(INSIDE, 25)], idx)
    state, transitions = expire(state, at(30), idx)
    assert summary(transitions) == [("close", "breach", "exempted", 30.0)]
    state, transitions = expire(state, at(45), idx)
    assert transitions == []
    state, transitions = expire(state, at(60), idx)  # still hovering there, 35 s after its report
    assert summary(transitions) == [("open", "breach", None, 60.0)]


def test_a_removed_zone_closes_its_episodes():
    kept, removed = zone(), zone()
    state, _ = live([report(INSIDE, 0)], index(kept, removed))
    assert len(state.episodes) == 2
    without = ZoneIndex.build([kept])
    _, transitions, _, _ = advance(state, [report(INSIDE, 1)], without)
    assert [(t.kind, t.zone_id, t.close_reason) for t in transitions] == [
        ("close", removed.id, "zone_ended"),
        ("update", kept.id, None),
    ]
    _, transitions = expire(state, at(1), without)
    assert [(t.zone_id, t.close_reason, t.at) for t in transitions] == [
        (removed.id, "zone_ended", at(1))
    ]


def test_an_edit_applies_to_the_next_report():
    original = zone()
    moved = zone(polygon([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]), zone_id=original.id, version=2)
    state, _ = live([report(INSIDE, 0)], index(original))
    _, transitions, _, _ = advance(state, [report(INSIDE, 1)], index(moved))
    assert summary(transitions) == [("close", "breach", "exited", 1.0)]


# Silence


def test_silence_closes_as_lost_contact():
    idx = index(zone())
    state, _ = live([report(INSIDE, 0), report(INSIDE, 10)], idx)
    state, transitions = expire(state, at(70), idx)
    assert transitions == []
    state, transitions = expire(state, at(95), idx)
    assert summary(transitions) == [("close", "breach", "lost_contact", 70.0)]
    assert transitions[0].position == INSIDE
    _, transitions = live([report(INSIDE, 200)], idx, state)
    assert summary(transitions) == [("open", "breach", None, 200.0)]


def test_a_gap_inside_one_batch_is_lost_contact_too():
    reports = [report(INSIDE, 0), report(INSIDE, 10), report(INSIDE, 100)]
    _, transitions, _, _ = advance(None, reports, index(zone()))
    assert summary(transitions) == [
        ("open", "breach", None, 0.0),
        ("close", "breach", "lost_contact", 70.0),
        ("open", "breach", None, 100.0),
    ]


# Order and duplicates


def test_a_late_report_is_history_only():
    idx = index(zone())
    state, _ = live([report(OUTSIDE_FAR, 0), report(OUTSIDE_FAR, 10)], idx)
    late = report(INSIDE, 5)
    result = advance(state, [late], idx)
    assert result.state is state
    assert result.transitions == []
    assert result.late == (late,)


def test_reports_in_any_order_give_the_same_transitions():
    reports = [*jitter_track(3)[:120], report(OUTSIDE_FAR, 150)]
    shuffled = reports[:]
    random.Random(4).shuffle(shuffled)
    idx = index(zone())
    assert advance(None, shuffled, idx).transitions == advance(None, reports, idx).transitions


def test_duplicates_are_ignored():
    idx = index(zone())
    first, copy = report(OUTSIDE_FAR, 0), report(INSIDE, 0)
    state, transitions, late, duplicates = advance(None, [first, copy, report(OUTSIDE_FAR, 1)], idx)
    assert transitions == [] and late == () and duplicates == (copy,)
    again = report(INSIDE, 1)
    result = advance(state, [again], idx)
    assert result.state is state and result.duplicates == (again,)


def test_one_drone_per_call():
    with pytest.raises(ValueError, match="serials"):
        advance(None, [report(INSIDE, 0), report(INSIDE, 1, serial="D2")], index(zone()))
    with pytest.raises(ValueError, match="first batch"):
        advance(None, [], index(zone()))


# Approach


def test_approach_then_breach_then_leaving():
    idx = index(zone(warning_buffer_m=200.0))
    path = [150.0, 50.0, -20.0, 150.0, 300.0]
    _, transitions = live([report(east_of_edge(m), s) for s, m in enumerate(path)], idx)
    assert [(t.kind, t.alert_kind, t.severity, t.close_reason) for t in transitions] == [
        ("open", "approach", "low", None),
        ("update", "approach", "low", None),
        ("open", "breach", "critical", None),
        ("update", "approach", "low", None),  # the buffer includes the zone
        ("close", "breach", "critical", "exited"),
        ("update", "approach", "low", None),
        ("close", "approach", "low", "exited"),
    ]
    assert transitions[0].depth_m == pytest.approx(-150.0, abs=0.1)


@pytest.mark.parametrize(("metres", "opens"), [(150.0, 1), (250.0, 0)])
def test_approach_is_geodesic(metres, opens):
    idx = index(zone(warning_buffer_m=200.0))
    _, transitions, _, _ = advance(None, [report(east_of_edge(metres))], idx)
    assert len(transitions) == opens


def test_first_seen_inside_the_zone_is_a_breach_not_an_approach():
    idx = index(zone(warning_buffer_m=200.0))
    _, transitions, _, _ = advance(None, [report(INSIDE)], idx)
    assert [t.alert_kind for t in transitions] == ["breach"]


def test_multipolygon_and_hole():
    holed = polygon(
        [(8.50, 47.40), (8.51, 47.40), (8.51, 47.41), (8.50, 47.41), (8.50, 47.40)],
        [(8.504, 47.404), (8.504, 47.406), (8.506, 47.406), (8.506, 47.404), (8.504, 47.404)],
    )
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
            [[[2, 0], [3, 0], [3, 1], [2, 1], [2, 0]]],
        ],
    }
    idx = index(zone(holed), zone(multi))
    _, in_hole, _, _ = advance(None, [report((8.505, 47.405))], idx)
    _, in_ring, _, _ = advance(None, [report((8.502, 47.405))], idx)
    _, in_part, _, _ = advance(None, [report((2.5, 0.5))], idx)
    assert in_hole == []
    assert [t.zone_id for t in in_ring] == [idx.zones[0].id]
    assert [t.zone_id for t in in_part] == [idx.zones[1].id]
