"""The verdict of one report against one zone: band, time, exemption, severity and depth."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import shapely

from skyguard.geofence.breach import evaluate_one, evaluate_reports, severity_of
from skyguard.geofence.index import Exemption
from skyguard.geofence.schedule import parse_schedule
from tests.geofence.builders import CENTRE, GEOD, T0, at, east_of_edge, index, report, zone


def verdict(z, r):
    verdicts = evaluate_reports([r], index(z))[0]
    return verdicts.get(0)


@pytest.mark.parametrize(
    ("band", "fields", "kind", "assumed"),
    [
        pytest.param({}, {}, "breach", False, id="ground-to-sky-needs-no-altitude"),
        pytest.param(
            {"ceiling_m": 120.0}, {"height_m": 119.0}, "breach", False, id="agl-below-ceiling"
        ),
        pytest.param(
            {"ceiling_m": 120.0}, {"height_m": 120.0}, "breach", False, id="agl-on-ceiling"
        ),
        pytest.param({"ceiling_m": 120.0}, {"height_m": 121.0}, None, False, id="agl-above"),
        pytest.param(
            {"ceiling_m": 120.0}, {"height_m": -2.0}, "breach", False, id="agl-ground-noise"
        ),
        pytest.param({"floor_m": 50.0}, {"height_m": 49.0}, None, False, id="agl-below-floor"),
        pytest.param({"floor_m": 50.0}, {"height_m": 50.0}, "breach", False, id="agl-on-floor"),
        pytest.param(
            {"ceiling_m": 120.0}, {"alt_m": 900.0}, "breach", True, id="agl-only-amsl-known"
        ),
        pytest.param({"ceiling_m": 120.0}, {}, "breach", True, id="agl-no-altitude"),
        pytest.param(
            {"altitude_ref": "AMSL", "floor_m": 500.0, "ceiling_m": 600.0},
            {"alt_m": 550.0, "height_m": 5000.0},
            "breach",
            False,
            id="amsl-uses-alt",
        ),
        pytest.param(
            {"altitude_ref": "AMSL", "floor_m": 500.0, "ceiling_m": 600.0},
            {"alt_m": 650.0, "height_m": 50.0},
            None,
            False,
            id="amsl-above",
        ),
        pytest.param(
            {"altitude_ref": "AMSL", "floor_m": 500.0, "ceiling_m": 600.0},
            {"height_m": 50.0},
            "breach",
            True,
            id="amsl-only-agl-known",
        ),
    ],
)
def test_altitude_band(band, fields, kind, assumed):
    v = verdict(zone(**band), report(CENTRE, **fields))
    assert v.kind == kind
    assert v.altitude_assumed is assumed


def test_band_excess_measures_metres_outside_the_band():
    v = verdict(zone(floor_m=50.0, ceiling_m=120.0), report(CENTRE, height_m=150.0))
    assert v.band_excess_m == 30.0
    v = verdict(zone(floor_m=50.0, ceiling_m=120.0), report(CENTRE, height_m=10.0))
    assert v.band_excess_m == 40.0


@pytest.mark.parametrize(
    ("window", "seconds", "applies"),
    [
        ({"active_from": at(60)}, 59, False),
        ({"active_from": at(60)}, 60, True),
        ({"active_until": at(60)}, 59, True),
        ({"active_until": at(60)}, 60, False),
        ({"active_from": at(0), "active_until": at(3600)}, 1800, True),
    ],
)
def test_temporary_window(window, seconds, applies):
    v = verdict(zone(**window), report(CENTRE, seconds))
    assert v.applies is applies
    assert (v.kind == "breach") is applies


SATURDAY_AFTERNOON = {
    "timezone": "Europe/Zurich",
    "windows": [{"days": ["sat"], "start": "13:00", "end": "15:00"}],
}


@pytest.mark.parametrize(
    ("offset", "applies"),
    [
        (timedelta(0), True),  # Saturday 14:00 in Zurich
        (timedelta(hours=1), False),  # 15:00, the window's end is exclusive
        (timedelta(hours=-1), True),  # 13:00
        (timedelta(hours=-1, seconds=-1), False),
        (timedelta(days=1), False),  # Sunday
        (timedelta(days=7), True),  # next Saturday
    ],
)
def test_weekly_schedule(offset, applies):
    z = zone(schedule=parse_schedule(SATURDAY_AFTERNOON))
    v = verdict(z, report(CENTRE, offset.total_seconds()))
    assert v.applies is applies


@pytest.mark.parametrize(
    ("start", "end", "applies"),
    [
        (timedelta(hours=-2), timedelta(hours=-1, seconds=-1), False),  # all before 13:00
        (timedelta(hours=-1, seconds=-30), timedelta(hours=-1, seconds=-1), False),
        (timedelta(hours=-1, seconds=-1), timedelta(hours=-1), True),  # the end is at 13:00
        (timedelta(hours=1), timedelta(hours=1, minutes=5), False),  # after 15:00
        (timedelta(hours=-5), timedelta(hours=5), True),  # the window lies within, ends out
        (timedelta(days=-6), timedelta(days=-6, hours=12), False),  # the whole of Sunday noon
        (timedelta(days=-3), timedelta(days=1), True),  # longer than a day: assumed to apply
    ],
)
def test_a_schedule_applies_between_two_instants_when_some_instant_between_is_in_a_window(
    start, end, applies
):
    schedule = parse_schedule(SATURDAY_AFTERNOON)
    assert schedule.applies_between(at(0) + start, at(0) + end) is applies


def test_a_zone_applies_between_two_instants_only_within_its_active_window():
    scheduled = zone(schedule=parse_schedule(SATURDAY_AFTERNOON), active_until=at(-3600)).spec
    # the window opens at 13:00 (at(-3600)), just as the zone stops being in force
    assert not scheduled.applies_between(at(-4000), at(-3000))
    assert zone(active_from=at(10)).spec.applies_between(at(0), at(10))
    assert not zone(active_from=at(10)).spec.applies_between(at(0), at(9))


@pytest.mark.parametrize(
    ("exemption", "fields", "exempt", "assumed"),
    [
        pytest.param(Exemption("D1", at(0), at(60)), {}, True, False, id="valid"),
        pytest.param(Exemption("D1", at(-60), at(0)), {}, False, False, id="ended-exclusive"),
        pytest.param(Exemption("D1", at(1), at(60)), {}, False, False, id="not-yet"),
        pytest.param(Exemption("D2", at(0), at(60)), {}, False, False, id="other-drone"),
        pytest.param(
            Exemption("D1", at(0), at(60), floor_m=0.0, ceiling_m=50.0),
            {"height_m": 40.0},
            True,
            False,
            id="in-exemption-band",
        ),
        pytest.param(
            Exemption("D1", at(0), at(60), floor_m=0.0, ceiling_m=50.0),
            {"height_m": 80.0},
            False,
            False,
            id="above-exemption-band",
        ),
        pytest.param(
            Exemption("D1", at(0), at(60), ceiling_m=50.0),
            {"alt_m": 500.0},
            False,
            True,
            id="band-unknown-altitude-does-not-exempt",
        ),
    ],
)
def test_exemption(exemption, fields, exempt, assumed):
    v = verdict(zone(exemptions=(exemption,)), report(CENTRE, **fields))
    assert v.exempt is exempt
    assert v.altitude_assumed is assumed
    assert (v.kind is None) is exempt


@pytest.mark.parametrize(
    ("metres", "kind", "depth"),
    [(-50.0, "breach", 50.0), (150.0, "approach", -150.0), (250.0, None, None)],
)
def test_warning_buffer_gives_an_approach(metres, kind, depth):
    z = zone(warning_buffer_m=200.0)
    v = verdict(z, report(east_of_edge(metres)))
    if kind is None:
        assert v is None
        return
    assert v.kind == kind
    assert v.distance_m == pytest.approx(depth, abs=0.1)


def test_approach_respects_band_time_and_exemptions():
    out = east_of_edge(150.0)
    assert (
        verdict(zone(warning_buffer_m=200.0, ceiling_m=100.0), report(out, height_m=150.0)).kind
        is None
    )
    assert verdict(zone(warning_buffer_m=200.0, active_from=at(10)), report(out)).kind is None
    exempted = zone(warning_buffer_m=200.0, exemptions=(Exemption("D1", at(0), at(60)),))
    assert verdict(exempted, report(out)).kind is None


@pytest.mark.parametrize(
    ("kind", "category", "severity"),
    [
        ("breach", "prohibited", "critical"),
        ("breach", "restricted", "high"),
        ("breach", "warning", "medium"),
        ("approach", "prohibited", "low"),
        ("approach", "warning", "low"),
    ],
)
def test_severity(kind, category, severity):
    assert severity_of(kind, category) == severity


def test_evaluate_one_agrees_with_the_batch_path():
    z = zone(warning_buffer_m=200.0, ceiling_m=120.0)
    idx = index(z)
    for metres in (-30.0, 0.0, 120.0):
        r = report(east_of_edge(metres), height_m=60.0)
        assert evaluate_one(idx, 0, r) == evaluate_reports([r], idx)[0][0]
    far = report(east_of_edge(5000.0))
    assert evaluate_reports([far], idx)[0] == {}
    assert evaluate_one(idx, 0, far).distance_m == pytest.approx(-5000.0, abs=0.5)


def test_report_time_is_utc_and_aware():
    with pytest.raises(ValueError, match="aware"):
        report(CENTRE).__class__("D1", T0.replace(tzinfo=None), 8.5, 47.4)
    with pytest.raises(ValueError, match="outside"):
        report((8.5, 95.0))


@pytest.mark.parametrize(
    ("geometry", "radius_m"),
    [
        (None, None),  # the 750 m square near Zurich
        ({"type": "Point", "coordinates": [8.52, 47.405]}, 900.0),
        ({"type": "Point", "coordinates": [179.999, -16.5]}, 2000.0),  # across the antimeridian
    ],
)
def test_distances_in_the_flat_frame_are_geodesic(geometry, radius_m):
    """Against brute force: the geodesic distance to the nearest of the boundary's points,
    densified to about 0.2 m, for points inside and up to 5 km out."""
    z = zone(geometry, radius_m=radius_m)
    idx = index(z)
    rng = np.random.default_rng(3)
    boundary = shapely.get_coordinates(shapely.segmentize(z.spec.area.shape.boundary, 2e-6))
    centre = z.spec.area.shape.centroid
    lon0 = 179.999 if geometry and geometry["coordinates"][0] > 179 else centre.x
    lons = (lon0 + rng.uniform(-0.06, 0.06, 40) + 180.0) % 360.0 - 180.0
    lats = centre.y + rng.uniform(-0.04, 0.04, 40)
    inside = idx.covers(0, lons, lats)
    measured = idx.signed_distances(np.zeros(40, dtype=np.intp), lons, lats, inside)
    for lon, lat, distance in zip(lons, lats, measured, strict=True):
        many = np.full(len(boundary), lon), np.full(len(boundary), lat)
        truth = GEOD.inv(*many, boundary[:, 0], boundary[:, 1])[2].min()
        assert abs(abs(distance) - truth) < 0.01


def test_a_wide_zone_measures_in_its_azimuthal_frame():
    idx = index(zone({"type": "Point", "coordinates": [8.52, 47.405]}, radius_m=80_000.0))
    lons, lats = np.array([8.52, 9.9]), np.array([47.405, 47.405])
    inside = idx.covers(0, lons, lats)
    measured = idx.signed_distances(np.zeros(2, dtype=np.intp), lons, lats, inside)
    assert measured.tolist() == idx.projected(0).signed_distance_m(lons, lats, inside).tolist()
    assert measured[0] == pytest.approx(80_000.0, abs=5.0)  # 360 chords sag 3 m
