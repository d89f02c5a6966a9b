"""History through the API: who entered a zone (reports inside and segments through it) and who
was in an area, paged; the queries run on the positions indexes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from skyguard.geofence.episodes import EngineConfig
from skyguard.geofence.schedule import parse_schedule
from skyguard.geofence.shapes import parse_area
from skyguard.geofence.zones import ZoneSpec
from skyguard.store import history
from skyguard.store.zone_rules import ZoneRules
from tests.api.test_alerting import draw, post

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
PROBLEM = "application/problem+json"
# the zone of test_alerting.draw: 8.50..8.51 E, 47.30..47.31 N
WINDOW = {"since": (T0 - timedelta(minutes=1)).isoformat(), "until": (T0 + timedelta(minutes=5))}


def at(seconds, lon, lat, serial):
    time = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": lat, "height_m": 50.0}


def iso(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def near(value: str, seconds: float) -> bool:
    """The RFC 3339 time is T0 + seconds, to the millisecond."""
    return abs((parse(value) - iso(seconds)).total_seconds()) < 1e-3


async def intrusions(client, headers, zone_id, role="reviewer", **params):
    params = {k: str(v) if isinstance(v, datetime) else v for k, v in {**WINDOW, **params}.items()}
    r = await client.get(f"/v1/zones/{zone_id}/intrusions", params=params, headers=headers[role])
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
async def flown(client, headers):
    """A zone; a drone flying through it with two reports inside, one crossing it between two
    reports, one on its edge, one crossing it with a 100 s gap, and one far away."""
    zone_id = await draw(client, headers)
    await post(
        client,
        headers,
        *(at(s, lon, 47.305, "SG-IN") for s, lon in ((0, 8.49), (10, 8.505), (20, 8.506))),
        at(30, 8.52, 47.305, "SG-IN"),
        at(0, 8.498, 47.305, "SG-CROSS"),
        at(10, 8.512, 47.305, "SG-CROSS"),
        at(40, 8.51, 47.307, "SG-EDGE"),
        at(0, 8.49, 47.305, "SG-GAP"),
        at(100, 8.52, 47.305, "SG-GAP"),
        at(0, 8.60, 47.40, "SG-FAR"),
        at(10, 8.601, 47.40, "SG-FAR"),
    )
    return zone_id


async def test_reports_inside_make_one_intrusion_with_interpolated_entry_and_exit(
    client, headers, flown
):
    body = await intrusions(client, headers, flown)
    by_serial = {i["serial"]: i for i in body["intrusions"]}
    assert set(by_serial) == {"SG-IN", "SG-CROSS", "SG-EDGE"}  # not the gap, not the far one
    inside = by_serial["SG-IN"]
    # enters at 8.50 on the segment 8.49 -> 8.505 (2/3 of it), leaves at 8.51 on 8.506 -> 8.52
    assert near(inside["entered_at"], 20 / 3)
    assert near(inside["exited_at"], 20 + 40 / 14)
    assert inside["duration_s"] == pytest.approx(20 + 40 / 14 - 20 / 3, abs=1e-3)
    assert inside["entry"] == pytest.approx({"lon": 8.50, "lat": 47.305})
    assert inside["exit"] == pytest.approx({"lon": 8.51, "lat": 47.305})
    assert inside["report_count"] == 2
    assert inside["crossed_between_reports"] is False
    assert inside["registered"] is False
    assert inside["last_inside_at"] == iso(20).isoformat().replace("+00:00", "Z")
    assert len(inside["alert_ids"]) == 1
    r = await client.get(f"/v1/alerts/{inside['alert_ids'][0]}", headers=headers["reviewer"])
    assert r.json()["serial"] == "SG-IN" and r.json()["zone_id"] == flown


async def test_a_segment_through_the_zone_is_an_intrusion_without_reports(client, headers, flown):
    body = await intrusions(client, headers, flown)
    [crossing] = [i for i in body["intrusions"] if i["serial"] == "SG-CROSS"]
    assert crossing["crossed_between_reports"] is True
    assert crossing["report_count"] == 0
    # 8.498 -> 8.512 in 10 s: in at 8.50 (1/7 of the way), out at 8.51 (6/7)
    assert near(crossing["entered_at"], 10 / 7)
    assert near(crossing["exited_at"], 60 / 7)
    assert crossing["duration_s"] == pytest.approx(50 / 7, abs=1e-3)
    assert crossing["entry"] == pytest.approx({"lon": 8.50, "lat": 47.305})
    assert len(crossing["alert_ids"]) == 1  # the engine's `crossed` alert


async def test_a_report_on_the_edge_is_inside_and_with_no_report_after_it_has_no_exit(
    client, headers, flown
):
    body = await intrusions(client, headers, flown)
    [edge] = [i for i in body["intrusions"] if i["serial"] == "SG-EDGE"]
    assert edge["report_count"] == 1
    assert (
        edge["entered_at"] == edge["last_inside_at"] == iso(40).isoformat().replace("+00:00", "Z")
    )
    assert edge["exited_at"] is None and edge["exit"] is None
    assert edge["duration_s"] == 0
    assert [i["serial"] for i in body["intrusions"]] == ["SG-CROSS", "SG-IN", "SG-EDGE"]


async def test_a_window_starting_inside_flags_it_and_one_ending_inside_too(client, headers, flown):
    late = await intrusions(client, headers, flown, since=iso(15))
    [inside] = [i for i in late["intrusions"] if i["serial"] == "SG-IN"]
    assert inside["began_before_since"] is True
    assert inside["entered_at"] == iso(20).isoformat().replace("+00:00", "Z")
    assert inside["report_count"] == 1
    early = await intrusions(client, headers, flown, until=iso(15))
    [inside] = [i for i in early["intrusions"] if i["serial"] == "SG-IN"]
    assert inside["continues_after_until"] is True and inside["exited_at"] is None
    assert inside["report_count"] == 1


async def test_intrusions_page_with_next(client, headers, flown):
    first = await intrusions(client, headers, flown, limit=2)
    assert [i["serial"] for i in first["intrusions"]] == ["SG-CROSS", "SG-IN"]
    r = await client.get(first["next"], headers=headers["reviewer"])
    assert [i["serial"] for i in r.json()["intrusions"]] == ["SG-EDGE"]
    assert r.json()["next"] is None


async def test_intrusion_parameters_and_roles(client, headers, flown):
    url = f"/v1/zones/{flown}/intrusions"
    r = await client.get(
        url,
        params={"since": iso(10).isoformat(), "until": iso(5).isoformat()},
        headers=headers["reviewer"],
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["pointer"] == "query:until"
    r = await client.get(url, params={"since": "yesterday"}, headers=headers["reviewer"])
    assert r.status_code == 422 and r.json()["pointer"] == "query:since"
    r = await client.get(url, params={"cursor": "nonsense"}, headers=headers["reviewer"])
    assert r.status_code == 422 and r.json()["pointer"] == "query:cursor"
    missing = "/v1/zones/00000000-0000-0000-0000-000000000000/intrusions"
    assert (await client.get(missing, headers=headers["reviewer"])).status_code == 404
    assert (await client.get(url, headers=headers["integrator"])).status_code == 403
    assert (await client.get(url)).status_code == 401
    for role in ("operator", "admin"):
        assert (await client.get(url, headers=headers[role])).status_code == 200


# ------------------------------------------------------------------------------ positions in area

BOX = "8.49,47.30,8.52,47.31"


async def area(client, headers, **params):
    r = await client.get(
        "/v1/positions",
        params={"since": iso(-60).isoformat(), "until": iso(300).isoformat(), **params},
        headers=headers["reviewer"],
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_positions_in_a_box_by_time_then_serial_paged(client, headers, flown):
    r = await client.post("/v1/drones", json={"serial": "SG-IN"}, headers=headers["operator"])
    assert r.status_code == 201
    seen, page = [], await area(client, headers, bbox=BOX, limit=3)
    while True:
        seen += page["positions"]
        if page["next"] is None:
            break
        r = await client.get(page["next"], headers=headers["reviewer"])
        page = r.json()
    keys = [(p["time"], p["serial"]) for p in seen]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # SG-FAR is outside the box; the other reports are in it (8.52 is on its east edge)
    assert len(seen) == 9
    assert {p["serial"] for p in seen} == {"SG-IN", "SG-CROSS", "SG-EDGE", "SG-GAP"}
    first = seen[0]
    assert first["height_m"] == 50.0 and "received_at" in first and "geom" not in first
    assert {p["registered"] for p in seen if p["serial"] == "SG-IN"} == {True}
    assert {p["registered"] for p in seen if p["serial"] == "SG-GAP"} == {False}


async def test_positions_of_one_drone_and_grouped_by_drone(client, headers, flown):
    one = await area(client, headers, bbox=BOX, serial="SG-IN")
    assert [p["lon"] for p in one["positions"]] == [8.49, 8.505, 8.506, 8.52]
    grouped = await area(client, headers, bbox=BOX, group="drone", limit=2)
    assert [d["serial"] for d in grouped["drones"]] == ["SG-CROSS", "SG-EDGE"]
    rest = (await client.get(grouped["next"], headers=headers["reviewer"])).json()
    assert [d["serial"] for d in rest["drones"]] == ["SG-GAP", "SG-IN"]
    gap = rest["drones"][0]
    assert gap["report_count"] == 2 and gap["registered"] is False
    assert parse(gap["first_at"]) == iso(0) and parse(gap["last_at"]) == iso(100)


async def test_a_box_across_the_antimeridian(client, headers):
    await post(
        client,
        headers,
        at(0, 179.99, 0.5, "SG-EAST"),
        at(0, -179.99, 0.5, "SG-WEST"),
        at(0, 0.0, 0.5, "SG-GREENWICH"),
    )
    body = await area(client, headers, bbox="179.9,0,-179.9,1")
    assert sorted(p["serial"] for p in body["positions"]) == ["SG-EAST", "SG-WEST"]


async def test_position_parameters_are_checked(client, headers):
    for params, pointer in (
        ({}, "query:bbox"),
        ({"bbox": "1,2,3"}, "query:bbox"),
        ({"bbox": "0,50,1,40"}, "query:bbox"),
        ({"bbox": BOX, "group": "zone"}, "query:group"),
        ({"bbox": BOX, "since": iso(10).isoformat(), "until": iso(0).isoformat()}, "query:until"),
        ({"bbox": BOX, "cursor": "x"}, "query:cursor"),
        ({"bbox": BOX, "group": "drone", "cursor": "x"}, "query:cursor"),
    ):
        r = await client.get("/v1/positions", params=params, headers=headers["reviewer"])
        assert r.status_code == 422, (params, r.text)
        assert r.json()["pointer"] == pointer
    assert (
        await client.get("/v1/positions?bbox=0,0,1,1", headers=headers["integrator"])
    ).status_code == 403


# ---------------------------------------------------------------------------------- on the indexes

GENERATE = text("""
INSERT INTO positions (serial, time, lon, lat, geom)
SELECT 'GEN-' || d, :start + make_interval(secs => k * 5 + d), lon, lat,
       ST_SetSRID(ST_MakePoint(lon, lat), 4326)
FROM generate_series(1, 60) AS d, generate_series(0, 99) AS k,
     LATERAL (SELECT 8.2 + (d % 10) * 0.06 + k * 0.0004 AS lon,
                     47.2 + (d / 10) * 0.05 + k * 0.0002 AS lat) AS c
""")


def plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def spatial_scans(nodes):
    """The partitions scanned through their GiST index on geom."""
    found = set()
    for node in nodes:
        below = [node, *plan_nodes(node)]
        if node.get("Relation Name", "").startswith("positions_") and any(
            n.get("Index Name", "").endswith("geom_idx") for n in below
        ):
            found.add(node["Relation Name"])
    return found


async def explain(connection, statement, params):
    if isinstance(statement, str):  # a Core statement compiled for the driver
        result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params)
    else:
        result = await connection.execute(text(f"EXPLAIN (FORMAT JSON) {statement}"), params)
    raw = result.scalar()
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
    return list(plan_nodes(plan))


async def test_history_queries_use_the_positions_indexes_and_prune_partitions(connection):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=2) + timedelta(hours=1)
    await connection.execute(
        text("SELECT skyguard_ensure_position_partitions(ARRAY[CAST(:a AS timestamptz), :b])"),
        {"a": start, "b": today},
    )
    await connection.execute(GENERATE, {"start": start})  # 6,000 reports two days ago
    await connection.execute(GENERATE, {"start": today})  # and 6,000 today
    await connection.execute(text("ANALYZE positions"))
    zone = await connection.execute(
        text(
            "INSERT INTO zones (id, version, name, category, floor_m, altitude_ref,"
            " warning_buffer_m, kind, geom) VALUES (gen_random_uuid(), 1, 'z', 'prohibited', 0,"
            " 'AGL', 0, 'polygon', ST_Multi(ST_MakeEnvelope(8.30, 47.30, 8.31, 47.31, 4326)))"
            " RETURNING id"
        )
    )
    since, until = today, today + timedelta(hours=1)
    # every rule in the statement: a band, a window, a weekly schedule (and exemptions, always)
    area = parse_area(
        {"type": "Polygon", "coordinates": [[[8.30, 47.30], [8.31, 47.30], [8.31, 47.31],
                                             [8.30, 47.31], [8.30, 47.30]]]}
    )  # fmt: skip
    spec = ZoneSpec(
        "z", area, floor_m=10.0, ceiling_m=120.0, active_from=start,
        schedule=parse_schedule(
            {"timezone": "Europe/Zurich",
             "windows": [{"days": ["mon", "sun"], "start": "22:00", "end": "06:00"}]}
        ),
    )  # fmt: skip
    statement, params = history.intrusion_statement(
        history.IntrusionQuery(zone_id=zone.scalar_one(), since=since, until=until),
        (8.30, 47.30, 8.31, 47.31),
        EngineConfig(),
        ZoneRules.of(spec),
    )
    nodes = await explain(connection, statement, params)
    old_day, new_day = (d.strftime("positions_%Y%m%d") for d in (start, today))
    # candidates through the GiST index, on today's partition only (pruned when planned)
    assert spatial_scans(nodes) == {new_day}
    # each candidate's neighbours by primary key (pruned as it runs)
    assert any(n.get("Index Name", "").endswith("pkey") for n in nodes)
    area_query = history.AreaQuery(box=(8.30, 47.30, 8.31, 47.31), since=since, until=until)
    compiled = history.area_statement(area_query).compile(dialect=connection.dialect)
    nodes = await explain(connection, str(compiled), compiled.params)
    assert spatial_scans(nodes) == {new_day}
    assert old_day not in {n.get("Relation Name") for n in nodes}


async def test_a_late_report_between_two_stored_ones_shows_both_crossings(client, headers):
    """Stored: west of the zone at 0 s and 40 s. Arriving late: east of it at 20 s. The drone
    crossed the zone twice; the second crossing is on the stored report's segment, which the
    late report redraws."""
    zone_id = await draw(client, headers)
    await post(client, headers, at(0, 8.49, 47.305, "SG-LATE"), at(40, 8.49, 47.305, "SG-LATE"))
    await post(client, headers, at(20, 8.52, 47.305, "SG-LATE"))
    body = await intrusions(client, headers, zone_id)
    crossings = [i for i in body["intrusions"] if i["serial"] == "SG-LATE"]
    assert [c["crossed_between_reports"] for c in crossings] == [True, True]
    # 8.49 -> 8.52 in 20 s: in at 8.50 (1/3 of the way), out at 8.51; and back again
    assert near(crossings[0]["entered_at"], 20 / 3) and near(crossings[0]["exited_at"], 40 / 3)
    assert near(crossings[1]["entered_at"], 20 + 20 / 3)
