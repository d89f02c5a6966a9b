"""Real flights replayed through POST /v1/telemetry against a zone drawn across their path.

Each flight is posted in batches of BATCH reports, its GPS times moved to the last minutes
with their spacing kept, `height_m` the altitude above the launch fix. The zone is computed
from the track: a rectangle centred on one report and aligned with the track there, sized so
the flight makes one alert of more than 10 s and then leaves it (see FlightZone).

The expected alert is computed here, independently of the engine, from the raw track: shapely
`covers` on the zone's own lon/lat polygon, metres in a local azimuthal-equidistant frame, and
the engine's documented rules with its default settings (asserted below):

- Entry: the alert opens at the first report inside. Its `opened_at` is that report's time,
  not the instant the segment before it crossed the boundary: the engine interpolates an entry
  time only for a segment that passes through a zone with *neither* end inside (a "crossed"
  alert). These tracks are logged at 5 Hz, so the difference is at most 0.2 s; the test checks
  that no such segment exists for its zones, so every entry and exit here is decided by a report.
- Exit: closed as `exited` at the first report at least EXIT_DISTANCE_M outside, or
  EXIT_TIME_S after the first report outside if the drone stays outside that long (a report
  inside stops that clock); `lost_contact` SILENCE_S after the last report when a gap is longer.

Flight files (ArduPilot GPS logs): rows with a time of week of 0 and no satellites are receiver
placeholders, not fixes, and are dropped; the first 3D fix is the launch point; a repeated time
of week is posted as is (the service keeps the first report per (serial, time)).
"""

from __future__ import annotations

import csv
import functools
import math
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon
from sqlalchemy import text

from tests.conftest import SHARED

FLIGHTS = SHARED / "data" / "flights" / "erle"
EXIT_DISTANCE_M = 20.0
EXIT_TIME_S = 30.0
SILENCE_S = 60.0
EXIT_TIME = timedelta(seconds=EXIT_TIME_S)
SILENCE = timedelta(seconds=SILENCE_S)
CEILING_M = 120.0  # the zone's AGL ceiling: far above these flights
BATCH = 50


@dataclass(frozen=True)
class Track:
    """The reports the engine applies, in time order, with where each was in the posted list."""

    times: list[datetime]
    lons: np.ndarray
    lats: np.ndarray
    heights: np.ndarray
    raw_index: list[int]  # index in `posted` of each counted report


@dataclass(frozen=True)
class Episode:
    """An alert the rules predict: opened and (if closed) closed at reports of the track."""

    opened: int
    opened_at: datetime
    closed: int | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    outside_m: float = math.nan  # how far out the drone was at a distance close


@dataclass(frozen=True)
class Expectation:
    """The predicted episodes and the segments that would make the prediction ambiguous."""

    episodes: list[Episode]
    ambiguous: list[int]  # segments i-1 -> i through the zone with neither end inside
    inside: np.ndarray
    outside_m: np.ndarray


def load_flight(name: str, serial: str) -> list[dict[str, Any]]:
    """The flight's fixes as telemetry, times moved to end two minutes ago, spacing kept."""
    with (FLIGHTS / name).open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["gps_tow_ms"]) > 0 and int(r["nsats"]) > 0]
    fixes = [r for r in rows if int(r["fix"]) >= 3]
    tow0, alt0 = int(fixes[0]["gps_tow_ms"]), float(fixes[0]["alt_msl_m"])
    duration_ms = max(int(r["gps_tow_ms"]) for r in fixes) - tow0
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(milliseconds=duration_ms + 120_000)
    return [
        {
            "serial": serial,
            "time": (start + timedelta(milliseconds=int(r["gps_tow_ms"]) - tow0)).isoformat(),
            "lon": float(r["lon"]),
            "lat": float(r["lat"]),
            "alt_m": float(r["alt_msl_m"]),
            "height_m": round(float(r["alt_msl_m"]) - alt0, 2),
        }
        for r in fixes
    ]


def batches_of(count: int) -> list[list[int]]:
    """Report indexes cut into batches of BATCH, in order."""
    return [list(range(i, min(i + BATCH, count))) for i in range(0, count, BATCH)]


def applied(posted: list[dict[str, Any]], batches: list[list[int]]) -> Track:
    """The reports the engine applies when the batches are posted in this order.

    The service stores the first report per (serial, time) and drops later copies; a batch's new
    reports are applied in time order, and those not newer than the latest applied report are
    late: history only.
    """
    times = [datetime.fromisoformat(r["time"]) for r in posted]
    stored: set[datetime] = set()
    kept: list[int] = []
    for batch in batches:
        fresh: list[int] = []
        for i in batch:
            if times[i] not in stored:
                stored.add(times[i])
                fresh.append(i)
        newest = times[kept[-1]] if kept else None
        kept += [
            i for i in sorted(fresh, key=times.__getitem__) if newest is None or times[i] > newest
        ]
    return Track(
        [times[i] for i in kept],
        np.array([posted[i]["lon"] for i in kept]),
        np.array([posted[i]["lat"] for i in kept]),
        np.array([posted[i]["height_m"] for i in kept]),
        kept,
    )


@functools.cache
def metric_frame(lon: float, lat: float) -> Transformer:
    """Azimuthal-equidistant metres around (lon, lat)."""
    return Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84", always_xy=True
    )


def band_across(
    posted: list[dict[str, Any]], at: int, half_along_m: float, half_across_m: float
) -> list[list[list[float]]]:
    """A rectangle centred on report `at`, its sides along and across the track's direction there.

    The direction is the chord over ±10 s of reports; the corners are rounded to 1e-7° (about
    1 cm), and the engine and the expectation both use exactly these coordinates.
    """
    centre = posted[at]
    frame = metric_frame(centre["lon"], centre["lat"])
    before, after = posted[max(0, at - 50)], posted[min(len(posted) - 1, at + 50)]
    x0, y0 = frame.transform(before["lon"], before["lat"])
    x1, y1 = frame.transform(after["lon"], after["lat"])
    norm = math.hypot(x1 - x0, y1 - y0)
    ux, uy = (x1 - x0) / norm, (y1 - y0) / norm
    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]
    ring = []
    for a, c in corners:
        x = a * half_along_m * ux - c * half_across_m * uy
        y = a * half_along_m * uy + c * half_across_m * ux
        lon, lat = frame.transform(x, y, direction="INVERSE")
        ring.append([round(lon, 7), round(lat, 7)])
    return [ring]


def expect(track: Track, coordinates: list[list[list[float]]]) -> Expectation:
    """The episodes the engine's rules give for the track against the zone, computed here."""
    zone = Polygon(coordinates[0], coordinates[1:])
    lonlat = np.column_stack([track.lons, track.lats])
    centre = zone.centroid
    frame = metric_frame(centre.x, centre.y)
    zone_m = shapely.transform(zone, lambda xy: np.column_stack(frame.transform(*xy.T)))
    horizontal = shapely.distance(
        zone_m, shapely.points(np.column_stack(frame.transform(*lonlat.T)))
    )
    above = np.maximum(track.heights - CEILING_M, 0.0)
    inside = shapely.covers(zone, shapely.points(lonlat)) & (above == 0.0)
    outside_m = np.where(inside, 0.0, np.maximum(horizontal, above))
    gaps_s = np.diff([t.timestamp() for t in track.times])
    segments = shapely.linestrings(np.stack([lonlat[:-1], lonlat[1:]], axis=1))
    through = shapely.intersects(zone, segments) & ~inside[:-1] & ~inside[1:]
    ambiguous = [int(i) + 1 for i in np.flatnonzero(through & (gaps_s <= SILENCE_S))]
    return Expectation(_run_rules(track.times, inside, outside_m), ambiguous, inside, outside_m)


def _run_rules(times: list[datetime], inside: np.ndarray, outside_m: np.ndarray) -> list[Episode]:
    """Open at a report inside; close by distance, by time outside, or by silence."""
    episodes: list[Episode] = []
    current: Episode | None = None
    outside_since: datetime | None = None
    for i, now in enumerate(times):
        if current is not None:
            deadlines = []
            if outside_since is not None and now - outside_since >= EXIT_TIME:
                deadlines.append((outside_since + EXIT_TIME, "exited"))
            if now - times[i - 1] > SILENCE:
                deadlines.append((times[i - 1] + SILENCE, "lost_contact"))
            if deadlines:
                at, reason = min(deadlines)
                episodes.append(replace(current, closed=i, closed_at=at, close_reason=reason))
                current = None
        if current is not None and not inside[i]:
            if outside_m[i] >= EXIT_DISTANCE_M:
                episodes.append(replace(current, closed=i, closed_at=now, close_reason="exited"))
                episodes[-1] = replace(episodes[-1], outside_m=float(outside_m[i]))
                current = None
            elif outside_since is None:
                outside_since = now
        elif current is None and inside[i]:
            current = Episode(i, now)
        if inside[i]:
            outside_since = None
    return episodes + ([current] if current is not None else [])


async def draw(client, headers, coordinates: list[list[list[float]]]) -> str:
    """The zone as an operator draws it: prohibited, ground to CEILING_M above ground."""
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": coordinates},
        "properties": {"name": "band across the track", "floor_m": 0, "ceiling_m": CEILING_M},
    }
    r = await client.post("/v1/zones", json=feature, headers=headers["operator"])
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def replay(client, headers, posted, batches: list[list[int]]) -> list[dict[str, Any]]:
    """POST the batches in order; the response bodies."""
    bodies = []
    for batch in batches:
        r = await client.post(
            "/v1/telemetry",
            json={"reports": [posted[i] for i in batch]},
            headers=headers["integrator"],
        )
        assert r.status_code == 200, r.text
        assert r.json()["rejected"] == []
        bodies.append(r.json())
    return bodies


def touched(bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(batch number, alert) for every alert every response reported, in order."""
    return [(n, alert) for n, body in enumerate(bodies) for alert in body["alerts"]]


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


async def alert_rows(connection, serial: str) -> list[Any]:
    rows = await connection.execute(
        text(
            "SELECT zone_id, opened_at, closed_at, close_reason, entry_lon, entry_lat"
            " FROM alerts WHERE serial = :serial ORDER BY opened_at"
        ),
        {"serial": serial},
    )
    return list(rows)


def shuffled(count: int, window: int, seed: int) -> list[int]:
    """Batch numbers 0..count-1, shuffled within consecutive windows: a network reordering."""
    rng = random.Random(seed)
    order: list[int] = []
    for start in range(0, count, window):
        group = list(range(start, min(start + window, count)))
        rng.shuffle(group)
        order += group
    return order


def inside_span_s(track: Track, expected: Expectation) -> float:
    """Seconds from the first to the last report inside the zone."""
    inside = np.flatnonzero(expected.inside)
    return (track.times[inside[-1]] - track.times[inside[0]]).total_seconds()


def check_config(settings) -> None:
    """The expectation follows the engine's default hysteresis and silence settings."""
    config = settings.engine_config()
    assert (config.exit_distance_m, config.exit_time_s, config.silence_timeout_s) == (
        EXIT_DISTANCE_M,
        EXIT_TIME_S,
        SILENCE_S,
    )


class FlightZone(NamedTuple):
    """A flight, the zone drawn across it, and the figures the rules give for it.

    The zone is centred on report `centre` (sizes in metres); `entry` and `closing` index the
    flight's fixes as posted: the report that opens the alert and the one that closes it;
    `out_m` is how far out the closing report is (None: closed by time outside).
    """

    flight: str
    centre: int
    half_along_m: float
    half_across_m: float
    entry: int
    closing: int
    out_m: float | None


# A plane circling: three passes through a 16 m box within 17 s (out at most 15 m, for at most
# 6 s: one alert), then it flies off and is 22.3 m out 0.2 s after 19.9 m.
PLANE = FlightZone("pxf_plane_4-12-2014_329.csv", 1680, 8.0, 8.0, 1604, 1733, 22.3)
# A copter out and back: it hovers in a 20 m x 10 m box over its far point for 85 s, and
# closes the alert on its way home, 20.6 m out (the report before: 19.8 m).
COPTER = FlightZone("pxf_copter_11-2-2015_112.csv", 600, 10.0, 5.0, 452, 981, 20.6)
# A copter in loiter over a 4 m box: it drifts in and out (up to 3 m out, for up to 15.6 s),
# never 20 m out; the alert closes 30 s after its last exit, noticed at the next report.
LOITER = FlightZone("pxf_copter_6-11-2014_Loiter_RTL.csv", 360, 2.0, 2.0, 232, 561, None)


def prepare(zone: FlightZone, serial: str):
    """The flight as posted, the zone's coordinates, and the flight cut into batches."""
    posted = load_flight(zone.flight, serial)
    coordinates = band_across(posted, zone.centre, zone.half_along_m, zone.half_across_m)
    return posted, coordinates, batches_of(len(posted))


@pytest.mark.parametrize("zone", [PLANE, COPTER, LOITER], ids=["plane", "copter", "loiter"])
async def test_a_real_flight_opens_and_closes_the_expected_alert(
    client, headers, connection, settings, zone: FlightZone
):
    check_config(settings)
    serial = "ERLE-" + zone.flight.removesuffix(".csv")
    posted, coordinates, batches = prepare(zone, serial)
    track = applied(posted, batches)
    expected = expect(track, coordinates)
    [episode] = expected.episodes
    assert expected.ambiguous == []  # entry and exit are decided at reports
    assert episode.closed is not None and episode.close_reason == "exited"
    entry, closing = track.raw_index[episode.opened], track.raw_index[episode.closed]
    assert (entry, closing) == (zone.entry, zone.closing)
    assert inside_span_s(track, expected) > 10.0
    if zone.out_m is None:
        assert np.nanmax(expected.outside_m[episode.opened : episode.closed]) < EXIT_DISTANCE_M
    else:
        assert episode.outside_m == pytest.approx(zone.out_m, abs=0.05)
        # the decision is not a matter of millimetres between two ways of measuring metres
        before = expected.outside_m[episode.closed - 1]
        assert before < EXIT_DISTANCE_M - 0.1 and episode.outside_m > EXIT_DISTANCE_M + 0.1

    zone_id = await draw(client, headers, coordinates)
    bodies = await replay(client, headers, posted, batches)

    assert sum(b["accepted"] for b in bodies) == len(track.times)
    assert sum(b["duplicates"] for b in bodies) == len(posted) - len(track.times)
    events = touched(bodies)
    assert len({alert["id"] for _, alert in events}) == 1
    (opened_in, opened), (closed_in, closed) = events[0], events[-1]
    assert opened_in == entry // BATCH
    assert opened["zone_id"] == zone_id and opened["status"] == "open"
    assert when(opened["opened_at"]) == episode.opened_at == track.times[episode.opened]
    assert opened["entry"] == {"lon": posted[entry]["lon"], "lat": posted[entry]["lat"]}
    assert all(alert["status"] == "open" for _, alert in events[:-1])
    assert closed_in == closing // BATCH
    assert closed["status"] == "closed" and closed["close_reason"] == "exited"
    assert when(closed["closed_at"]) == episode.closed_at
    [row] = await alert_rows(connection, serial)
    assert (row.opened_at, row.closed_at, row.close_reason) == (
        episode.opened_at,
        episode.closed_at,
        "exited",
    )


async def test_a_flight_posted_twice_raises_its_alert_once(client, headers, connection, settings):
    check_config(settings)
    posted, coordinates, batches = prepare(LOITER, "ERLE-TWICE")
    track = applied(posted, batches)
    await draw(client, headers, coordinates)
    [episode] = expect(track, coordinates).episodes
    entry, closing = LOITER.entry, LOITER.closing

    first = await replay(client, headers, posted, batches)
    again = await replay(client, headers, posted, batches)

    events = touched(first)
    assert len({alert["id"] for _, alert in events}) == 1
    assert (events[0][0], events[-1][0]) == (entry // BATCH, closing // BATCH)
    for batch, body in zip(batches, again, strict=True):
        assert (body["accepted"], body["duplicates"], body["alerts"]) == (0, len(batch), [])
    [row] = await alert_rows(connection, "ERLE-TWICE")
    assert (row.opened_at, row.closed_at) == (episode.opened_at, episode.closed_at)
    assert (row.entry_lon, row.entry_lat) == (posted[entry]["lon"], posted[entry]["lat"])
    stored = await connection.scalar(
        text("SELECT count(*) FROM positions WHERE serial = 'ERLE-TWICE'")
    )
    assert stored == len({r["time"] for r in posted})


@pytest.mark.parametrize(
    ("window", "seed", "same_times"),
    [
        # The batches holding the entry and the exit arrive in time: the very same alert.
        pytest.param(2, 1, True, id="entry-and-exit-in-time"),
        # The batch holding the entry arrives after a newer one: it is history only, and the
        # alert opens at the first report inside that the engine could apply in time order.
        pytest.param(3, 2, False, id="entry-batch-late"),
    ],
)
async def test_batches_out_of_order_raise_one_alert_from_reports_in_time_order(
    client, headers, connection, settings, window, seed, same_times
):
    """Out-of-order batches: every report goes into history, state follows report time.

    A batch older than the drone's latest report cannot rewrite what the engine already
    decided (it would have to reopen or back-date alerts already delivered): its reports are
    stored, counted as accepted, and change no alert. "The same alert" is then: one alert for
    the drone and the zone, opened and closed by the rules at the reports applied in time order.
    The late batches leave holes in what the engine sees; a segment across a hole that passed
    through the zone would add a "crossed" alert, which these orders avoid (asserted).
    """
    check_config(settings)
    serial = "ERLE-SHUFFLED"
    posted, coordinates, batches = prepare(COPTER, serial)
    [in_order] = expect(applied(posted, batches), coordinates).episodes
    order = shuffled(len(batches), window, seed)
    assert order != sorted(order)
    posting = [batches[n] for n in order]
    track = applied(posted, posting)
    kept = set(track.raw_index)
    expected = expect(track, coordinates)
    [episode] = expected.episodes
    await draw(client, headers, coordinates)
    assert expected.ambiguous == []
    assert (episode.opened_at == in_order.opened_at) is same_times
    assert episode.opened_at >= in_order.opened_at
    assert (episode.closed_at, episode.close_reason) == (in_order.closed_at, "exited")

    bodies = await replay(client, headers, posted, posting)

    events = touched(bodies)
    assert len({alert["id"] for _, alert in events}) == 1
    closed = events[-1][1]
    assert when(closed["opened_at"]) == episode.opened_at
    assert when(closed["closed_at"]) == episode.closed_at
    assert closed["close_reason"] == "exited"
    late = [(b, body) for b, body in zip(posting, bodies, strict=True) if not kept & set(b)]
    assert late  # some batches arrived after newer ones: stored, and nothing else
    assert all(body["accepted"] == len(b) and body["alerts"] == [] for b, body in late)
    stored = await connection.scalar(
        text("SELECT count(*) FROM positions WHERE serial = :serial"), {"serial": serial}
    )
    assert stored == len({r["time"] for r in posted}) == sum(b["accepted"] for b in bodies)
    latest = await connection.scalar(
        text("SELECT time FROM drone_latest WHERE serial = :serial"), {"serial": serial}
    )
    assert latest == max(datetime.fromisoformat(r["time"]) for r in posted)
    [row] = await alert_rows(connection, serial)
    assert (row.opened_at, row.closed_at) == (episode.opened_at, episode.closed_at)
