"""When the background tick must next look at a drone: never after time alone changes its alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from skyguard.geofence.due import due_at, dues, next_minute
from skyguard.geofence.episodes import DroneState
from skyguard.geofence.index import Exemption, ZoneIndex
from skyguard.geofence.schedule import parse_schedule
from skyguard.geofence.transitions import DEFAULT_CONFIG, advance, expire
from tests.geofence.builders import CENTRE, at, east_of_edge, index, report, zone

CONFIG = DEFAULT_CONFIG  # exit after 30 s outside, silent after 60 s
FAR = (8.30, 47.30)  # kilometres from the square
# T0 is 12:00:00 UTC, 14:00 in Zurich: a window opening at 14:01:30 local would not be on a
# whole minute, so the schedule opens at 14:02 and closes at 14:03
SCHEDULE = parse_schedule(
    {"timezone": "Europe/Zurich", "windows": [{"days": ["sat"], "start": "14:02", "end": "14:03"}]}
)


def state_after(idx: ZoneIndex, *reports) -> DroneState:
    return advance(None, reports, idx, CONFIG).state


def first_change(state: DroneState, idx: ZoneIndex, since: datetime, seconds: int) -> datetime:
    """The first whole second after `since` at which expire() changes something (or the end)."""
    for step in range(1, seconds + 1):
        now = since + timedelta(seconds=step)
        new, transitions = expire(state, now, idx, CONFIG)
        if transitions or new != state:
            return now
    return since + timedelta(seconds=seconds + 1)


def test_a_drone_far_from_every_zone_is_never_due():
    idx = index(zone(active_from=at(30)))
    state = state_after(idx, report(FAR))
    assert due_at(state, at(0), idx, CONFIG) is None


def test_a_drone_inside_a_zone_that_never_changes_is_due_only_at_its_silence():
    idx = index(zone())
    state = state_after(idx, report(CENTRE))
    assert state.episodes, "the drone is in the zone: an alert is open"
    assert due_at(state, at(0), idx, CONFIG, [0]) == at(60)


def test_without_an_alert_open_a_static_zone_alone_makes_nothing_due():
    idx = index(zone(ceiling_m=100.0))
    state = state_after(idx, report(CENTRE, height_m=150.0))  # above the band: no alert
    assert not state.episodes
    assert due_at(state, at(0), idx, CONFIG, [0]) is None


def test_a_zone_starting_over_the_drone_is_due_at_its_start():
    idx = index(zone(active_from=at(30)))
    state = state_after(idx, report(CENTRE))
    assert due_at(state, at(0), idx, CONFIG, [0]) == at(30)


def test_a_scheduled_zone_is_due_at_the_next_whole_minute():
    idx = index(zone(schedule=SCHEDULE))
    state = state_after(idx, report(CENTRE, 5.5))
    assert due_at(state, at(5.5), idx, CONFIG, [0]) == at(60)
    assert next_minute(at(60)) == at(120)


def test_an_exemption_ending_is_due_when_it_ends():
    exemption = Exemption("D1", at(-100), at(20))
    idx = index(zone(exemptions=(exemption,)))
    state = state_after(idx, report(CENTRE))
    assert not state.episodes, "exempted"
    assert due_at(state, at(0), idx, CONFIG, [0]) == at(20)


def test_an_exit_timer_is_due_when_it_runs_out():
    idx = index(zone())
    state = state_after(idx, report(CENTRE), report(east_of_edge(5.0), 2))  # 5 m out: timer
    assert state.episodes and state.episodes[0].outside_since == at(2)
    assert due_at(state, at(2), idx, CONFIG, [0]) == at(32)


def test_a_silent_drone_is_never_due_again():
    idx = index(zone(schedule=SCHEDULE))
    state = state_after(idx, report(CENTRE))
    assert due_at(state, at(61), idx, CONFIG, [0]) is None


def test_an_episode_in_a_zone_no_longer_indexed_is_due_at_once():
    state = state_after(index(zone()), report(CENTRE))
    assert due_at(state, at(3), index(), CONFIG) == at(3)


SCENARIOS = {
    "inside a static zone": (lambda: index(zone()), [report(CENTRE)]),
    "leaving a zone slowly": (lambda: index(zone()), [report(CENTRE), report(east_of_edge(5), 3)]),
    "a zone that starts": (lambda: index(zone(active_from=at(40))), [report(CENTRE)]),
    "a zone that ends": (lambda: index(zone(active_until=at(25))), [report(CENTRE)]),
    "a weekly schedule": (lambda: index(zone(schedule=SCHEDULE)), [report(CENTRE, 70)]),
    "an exemption starting": (
        lambda: index(zone(exemptions=(Exemption("D1", at(17), at(500)),))),
        [report(CENTRE)],
    ),
    "an exemption ending": (
        lambda: index(zone(exemptions=(Exemption("D1", at(-5), at(33)),))),
        [report(CENTRE)],
    ),
    "in the warning buffer of a zone that starts": (
        lambda: index(zone(warning_buffer_m=100.0, active_from=at(12))),
        [report(east_of_edge(50))],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_time_changes_nothing_before_the_drone_is_due(name):
    """Brute force: tick every second after the last report and see when something first
    changes; the due time must come no later (the tick would otherwise be late)."""
    build, reports = SCENARIOS[name]
    idx = build()
    state = state_after(idx, *reports)
    since = state.last.time
    [due] = dues([state], [since], idx, CONFIG)
    changed = first_change(state, idx, since, 200)
    assert changed <= since + timedelta(seconds=200), "each scenario changes within the window"
    assert due is not None and due <= changed, (due, changed)
