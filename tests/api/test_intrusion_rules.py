"""Intrusions keep to the zone's rules as the engine does: its altitude band, when it applies
(window and weekly schedule) and the exemptions granted in it; a 2D test alone is wrong."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from skyguard.geofence.schedule import parse_schedule
from skyguard.geofence.shapes import parse_area
from skyguard.geofence.zones import ZoneSpec
from skyguard.store.zone_rules import ZoneRules
from tests.api.test_alerting import SQUARE, draw, post
from tests.api.test_history import T0, intrusions, iso

WEST, INSIDE, EAST = 8.49, 8.505, 8.52  # the square spans 8.50..8.51 E at 47.305 N


def at(seconds: float, lon: float, serial: str, height: float | None = 50.0):
    report = {"serial": serial, "time": iso(seconds).isoformat(), "lon": lon, "lat": 47.305}
    return report if height is None else {**report, "height_m": height}


def stamp(seconds: float) -> str:
    return iso(seconds).isoformat().replace("+00:00", "Z")


async def found(client, headers, zone_id) -> dict[str, dict]:
    """The zone's intrusions by serial (each drone makes at most one in these tests)."""
    listed = (await intrusions(client, headers, zone_id))["intrusions"]
    by_serial = {i["serial"]: i for i in listed}
    assert len(by_serial) == len(listed), listed
    return by_serial


async def test_a_drone_above_the_ceiling_is_no_intrusion(client, headers):
    zone_id = await draw(client, headers, ceiling_m=100.0)
    await post(
        client,
        headers,
        *(at(s, lon, "SG-HIGH", 150.0) for s, lon in ((0, WEST), (10, INSIDE), (20, EAST))),
        *(at(s, lon, "SG-LOW", 50.0) for s, lon in ((0, WEST), (10, INSIDE), (20, EAST))),
        *(at(s, lon, "SG-BLIND", None) for s, lon in ((0, WEST), (10, INSIDE), (20, EAST))),
        at(0, 8.498, "SG-HOP-HIGH", 150.0),
        at(10, 8.512, "SG-HOP-HIGH", 150.0),
        at(0, 8.498, "SG-HOP-LOW", 60.0),
        at(10, 8.512, "SG-HOP-LOW", 40.0),
    )
    seen = await found(client, headers, zone_id)
    # no height: counted inside, as the engine does (it cannot rule the drone out)
    assert set(seen) == {"SG-LOW", "SG-BLIND", "SG-HOP-LOW"}
    assert seen["SG-HOP-LOW"]["crossed_between_reports"] is True


async def test_a_crossing_judged_at_its_middle_with_the_altitude_interpolated(client, headers):
    """Climbing from 60 to 160 m through a zone capped at 100 m: the middle of the run inside
    (8.50..8.51 on 8.498 -> 8.512) is at 110 m, above the cap; descending the other way it is
    at 90 m, inside the band."""
    zone_id = await draw(client, headers, ceiling_m=100.0)
    await post(
        client,
        headers,
        at(0, 8.498, "SG-UP", 60.0),
        at(10, 8.512, "SG-UP", 160.0),
        at(0, 8.498, "SG-DOWN", 160.0),
        at(10, 8.512, "SG-DOWN", 20.0),
    )
    assert set(await found(client, headers, zone_id)) == {"SG-DOWN"}


async def test_a_drone_climbing_out_of_the_band_ends_its_intrusion_at_the_report_above(
    client, headers
):
    zone_id = await draw(client, headers, ceiling_m=100.0)
    heights = ((0, 150.0), (10, 150.0), (20, 50.0), (30, 60.0), (40, 150.0))
    await post(client, headers, *(at(s, INSIDE, "SG-CLIMB", h) for s, h in heights))
    [climb] = (await found(client, headers, zone_id)).values()
    assert climb["entered_at"] == stamp(20), "the first report in the band"
    assert climb["exited_at"] == stamp(40), "the first report above it"
    assert climb["report_count"] == 2
    assert climb["exit"] == pytest.approx({"lon": INSIDE, "lat": 47.305})


async def test_a_zone_counts_only_once_it_applies(client, headers):
    zone_id = await draw(client, headers, active_from=iso(15).isoformat())
    await post(client, headers, *(at(s, INSIDE, "SG-EARLY") for s in (0, 10, 20, 30)))
    [early] = (await found(client, headers, zone_id)).values()
    assert early["entered_at"] == stamp(20) and early["report_count"] == 2


async def test_a_weekly_schedule_counts_in_its_local_time(client, headers):
    opens = (T0 + timedelta(seconds=90)).astimezone(UTC)
    opens = opens.replace(second=0) + timedelta(minutes=1)  # a whole minute, 90-150 s after T0
    closes = opens + timedelta(minutes=30)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    schedule = {
        "timezone": "UTC",
        "windows": [
            {
                "days": [days[opens.weekday()]],
                "start": opens.strftime("%H:%M"),
                "end": closes.strftime("%H:%M") if closes.day == opens.day else "24:00",
            }
        ],
    }
    zone_id = await draw(client, headers, schedule=schedule)
    after = (opens - T0).total_seconds() + 5  # reports 10 s apart: one run, opening in it
    await post(
        client, headers, *(at(s, INSIDE, "SG-SCHED") for s in (after - 20, after - 10, after))
    )
    [sched] = (await found(client, headers, zone_id)).values()
    assert sched["entered_at"] == stamp(after) and sched["report_count"] == 1


async def test_an_exempted_drone_is_no_intrusion_within_its_exemption(client, headers):
    zone_id = await draw(client, headers)
    window = {"valid_from": iso(-60).isoformat(), "valid_until": iso(600).isoformat()}
    for serial, band in (("SG-OK", {}), ("SG-LOW-OK", {"ceiling_m": 60.0})):
        r = await client.post(
            f"/v1/zones/{zone_id}/exemptions",
            json={"serial": serial, **window, **band},
            headers=headers["operator"],
        )
        assert r.status_code == 201, r.text
    track = ((0, WEST), (10, INSIDE), (20, EAST))
    await post(
        client,
        headers,
        *(at(s, lon, "SG-OK") for s, lon in track),
        *(at(s, lon, "SG-OTHER") for s, lon in track),
        *(at(s, lon, "SG-LOW-OK", 50.0) for s, lon in track),  # in its exemption's band
        *(at(s, lon, "SG-LOW-OK-2", 80.0) for s, lon in track),
    )
    r = await client.post(
        f"/v1/zones/{zone_id}/exemptions",
        json={"serial": "SG-LOW-OK-2", **window, "ceiling_m": 60.0},
        headers=headers["operator"],
    )
    assert r.status_code == 201, r.text
    # SG-LOW-OK-2 flew at 80 m, above the band its exemption allows
    assert set(await found(client, headers, zone_id)) == {"SG-OTHER", "SG-LOW-OK-2"}


async def test_the_schedule_in_sql_agrees_with_the_engine_through_dst_changes(connection):
    """Random instants over a year, around the clock changes of Europe/Zurich: the SQL rule
    and ZoneSpec.applies_at give the same answer."""
    schedule = parse_schedule(
        {
            "timezone": "Europe/Zurich",
            "windows": [
                {"days": ["mon", "tue", "wed"], "start": "08:30", "end": "17:45"},
                {"days": ["sat", "sun"], "start": "22:00", "end": "02:30"},
                {"days": ["fri"], "start": "01:00", "end": "24:00"},
            ],
        }
    )
    spec = ZoneSpec("z", parse_area({"type": "Polygon", "coordinates": SQUARE}), schedule=schedule)
    rules = ZoneRules.of(spec)
    rng = random.Random(11)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    instants = [start + timedelta(seconds=rng.uniform(0, 365 * 86400)) for _ in range(300)]
    for change in (datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)):
        instants += [change + timedelta(minutes=m) for m in range(-90, 91, 7)]
    expression = rules.eligible("CAST(:t AS timestamptz)", "CAST(NULL AS float8)", "'nobody'")
    statement = text(f"SELECT {expression}")
    for instant in instants:
        params = {**rules.params, "t": instant, "zone_id": uuid.uuid4()}
        in_sql = (await connection.execute(statement, params)).scalar_one()
        assert in_sql == spec.applies_at(instant), instant
