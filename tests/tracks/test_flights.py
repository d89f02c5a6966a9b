"""Flights cut by gaps and summed up as reports arrive; track exports. Pure: no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pyproj import Geod

from skyguard.geofence.reports import Report
from skyguard.tracks.export import FlightSpan, simplify, split_legs, track_csv
from skyguard.tracks.flights import follow

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GAP = timedelta(seconds=120)
GEOD = Geod(ellps="WGS84")


def report(seconds: float, metres_east: float = 0.0, **extra) -> Report:
    lon, lat, _ = GEOD.fwd(8.5, 47.3, 90.0, metres_east)
    return Report("D1", T0 + timedelta(seconds=seconds), lon, lat, **extra)


def test_a_first_report_starts_a_flight():
    [flight] = follow(None, [report(0)], GAP)
    assert flight.report_count == 1 and flight.started_at == flight.ended_at == T0
    assert not flight.is_closed and flight.launch is not None


@pytest.mark.parametrize(
    ("seconds", "flights"),
    [
        ([0, 60, 180], 1),  # gaps of 60 and 120 s: 120 is not over the gap
        ([0, 60, 181], 2),
        ([0, 200, 400, 600], 4),
    ],
)
def test_flights_are_cut_where_a_gap_exceeds_the_setting(seconds, flights):
    touched = follow(None, [report(s) for s in seconds], GAP)
    assert len(touched) == flights
    assert all(f.is_closed for f in touched[:-1]) and not touched[-1].is_closed
    assert sum(f.report_count for f in touched) == len(seconds)


def test_an_open_flight_goes_on_and_a_gap_closes_it_at_its_end_plus_the_gap():
    [flight] = follow(None, [report(0), report(10, 50)], GAP)
    [same] = follow(flight, [report(20, 100)], GAP)
    assert same.id == flight.id and same.report_count == 3
    assert same.distance_m == pytest.approx(100.0, abs=0.01)
    closed, new = follow(same, [report(500, 100)], GAP)
    assert closed.id == flight.id and closed.closed_at == T0 + timedelta(seconds=20) + GAP
    assert new.id != flight.id and new.report_count == 1 and new.distance_m == 0.0


def test_late_reports_change_no_flight():
    [flight] = follow(None, [report(0), report(10)], GAP)
    assert follow(flight, [report(5), report(10)], GAP) == []
    assert follow(None, [report(3)], GAP, after=T0 + timedelta(seconds=10)) == []


def test_reports_in_any_order_within_a_batch():
    [flight] = follow(None, [report(20, 200), report(0), report(10, 100)], GAP)
    assert flight.started_at == T0 and flight.ended_at == T0 + timedelta(seconds=20)
    assert flight.distance_m == pytest.approx(200.0, abs=0.01)


def test_a_position_glitch_is_left_out_of_the_distance():
    [flight] = follow(None, [report(0), report(1, 5000), report(2, 10)], GAP)
    assert flight.distance_m < 20


def test_heights_reported_or_over_the_estimated_ground():
    [flight] = follow(None, [report(i, 5 * i, height_m=min(i, 30.0)) for i in range(60)], GAP)
    assert flight.max_height_m == 30.0
    # on the ground for 10 s, then climbing 1 m/s while flying east: a ground start at 500 m
    no_height = [
        report(i, 5 * max(0, i - 10), alt_m=500.0 + min(max(0, i - 10), 30.0)) for i in range(60)
    ]
    [flight] = follow(None, no_height, GAP)
    assert flight.max_alt_m == 530.0
    assert flight.launch is not None and flight.launch.ground_alt_m is not None
    assert flight.max_height_m == pytest.approx(530.0 - flight.launch.ground_alt_m)


def test_legs_are_named_by_the_stored_flight_they_fall_in():
    reports = [report(s) for s in (0, 10, 300, 310)]
    span = FlightSpan(uuid.uuid4(), T0 + timedelta(seconds=300), T0 + timedelta(seconds=310))
    first, second = split_legs(reports, GAP, [span])
    assert first.flight_id is None and second.flight_id == span.id
    assert [len(first.reports), len(second.reports)] == [2, 2]


def test_simplify_keeps_the_ends_and_the_corner_with_their_own_reports():
    straight = [report(i, 10.0 * i) for i in range(20)]
    corner_lon, corner_lat = straight[-1].lon, straight[-1].lat
    north = [
        Report(
            "D1", T0 + timedelta(seconds=20 + i), *GEOD.fwd(corner_lon, corner_lat, 0, 10 * i)[:2]
        )
        for i in range(1, 20)
    ]
    kept = simplify(straight + north, 1.0)
    assert kept == [straight[0], straight[-1], north[-1]]
    assert simplify(straight, 0) == straight


def test_csv_has_a_header_even_for_an_empty_track():
    assert "".join(track_csv([])).splitlines() == [
        "serial,time,lon,lat,alt_m,height_m,speed_mps,heading_deg,vspeed_mps,accuracy_m,"
        "source,operator_lon,operator_lat,flight_id"
    ]
