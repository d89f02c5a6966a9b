"""Telemetry in: per-report validation, duplicates, idempotency, out-of-order, the live view."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def now():
    """Report times relative to this test's start: the live view looks at the real clock."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


def report(serial="SG-TEST-1", seconds_ago=10.0, lon=8.54, lat=47.37, **extra):
    time = (NOW - timedelta(seconds=seconds_ago)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": lat, **extra}


async def count_positions(connection, serial=None) -> int:
    where = "WHERE serial = :s" if serial else ""
    return (
        await connection.execute(text(f"SELECT count(*) FROM positions {where}"), {"s": serial})
    ).scalar()


async def test_one_report_is_stored_and_creates_an_unregistered_drone(client, headers, connection):
    r = await client.post(
        "/v1/telemetry", json=report(alt_m=420.5, height_m=35.0), headers=headers["integrator"]
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "accepted": 1,
        "duplicates": 0,
        "duplicate_indexes": [],
        "rejected": [],
        "alerts": [],
    }
    drone = (await client.get("/v1/drones/SG-TEST-1", headers=headers["reviewer"])).json()
    assert drone["registered"] is False
    assert drone["first_seen_at"] is not None
    assert await count_positions(connection, "SG-TEST-1") == 1


async def test_same_serial_and_time_is_a_duplicate_stored_once(client, headers, connection):
    body = report()
    first = await client.post("/v1/telemetry", json=body, headers=headers["integrator"])
    again = await client.post("/v1/telemetry", json=body, headers=headers["integrator"])
    assert first.json()["accepted"] == 1
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 1
    in_batch = await client.post(
        "/v1/telemetry",
        json={"reports": [report(seconds_ago=5), report(seconds_ago=5)]},
        headers=headers["integrator"],
    )
    assert in_batch.json()["accepted"] == 1
    assert in_batch.json()["duplicate_indexes"] == [1]
    assert await count_positions(connection, "SG-TEST-1") == 2


async def test_batch_of_10000_with_3_bad_keeps_9997(client, headers, connection):
    reports = [
        report(serial=f"SG-B{i % 50}", seconds_ago=1000 - i * 0.05, lon=8.5 + i * 1e-5)
        for i in range(10_000)
    ]
    reports[17]["lat"] = 91.0
    reports[4242]["time"] = "yesterday"
    reports[9999] = {"serial": "SG-B1", "lon": 8.5}
    r = await client.post("/v1/telemetry", json={"reports": reports}, headers=headers["integrator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 9997
    assert [x["index"] for x in body["rejected"]] == [17, 4242, 9999]
    assert body["rejected"][0]["pointer"] == "/reports/17/lat"
    assert "outside -90..90" in body["rejected"][0]["detail"]
    assert body["rejected"][1]["pointer"] == "/reports/4242/time"
    assert await count_positions(connection) == 9997


async def test_bad_values_are_rejected_with_the_reason(client, headers):
    raw = json.dumps(
        {
            "reports": [
                report(),
                {**report(seconds_ago=1), "lon": float("nan")},
                report(lon=47.37, lat=100.0),
                report(seconds_ago=-3600),
                {**report(), "time": "2026-11-22T10:00:00"},
                report(speed_mps=-1),
                report(serial=""),
                [1, 2],
                report(lon=True),
            ]
        }
    )
    r = await client.post(
        "/v1/telemetry",
        content=raw,
        headers={**headers["integrator"], "content-type": "application/json"},
    )
    rejected = {x["index"]: x for x in r.json()["rejected"]}
    assert r.json()["accepted"] == 1
    assert "finite" in rejected[1]["detail"] and rejected[1]["pointer"] == "/reports/1/lon"
    assert "swapped" in rejected[2]["detail"]
    assert "future" in rejected[3]["detail"]
    assert "offset" in rejected[4]["detail"]
    assert rejected[5]["pointer"] == "/reports/5/speed_mps"
    assert rejected[6]["pointer"] == "/reports/6/serial"
    assert rejected[7]["pointer"] == "/reports/7"
    assert rejected[8]["pointer"] == "/reports/8/lon"


async def test_a_single_bad_report_is_a_422_problem(client, headers):
    r = await client.post("/v1/telemetry", json=report(lat=-95.0), headers=headers["integrator"])
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["pointer"] == "/lat"
    r = await client.post(
        "/v1/telemetry",
        content=b"{not json",
        headers={**headers["integrator"], "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert "not JSON" in r.json()["detail"]


async def test_a_batch_over_the_cap_is_413(client, headers, app):
    app.state.settings.max_batch_reports = 5
    try:
        r = await client.post(
            "/v1/telemetry",
            json={"reports": [report(seconds_ago=i) for i in range(6)]},
            headers=headers["integrator"],
        )
    finally:
        app.state.settings.max_batch_reports = 10_000
    assert r.status_code == 413
    assert "over the cap of 5" in r.json()["detail"]


async def test_idempotency_key_replays_the_first_response(client, headers, connection):
    key = {**headers["integrator"], "Idempotency-Key": "batch-0001"}
    body = {"reports": [report(seconds_ago=3), report(seconds_ago=2)]}
    first = await client.post("/v1/telemetry", json=body, headers=key)
    again = await client.post("/v1/telemetry", json=body, headers=key)
    assert first.json()["accepted"] == 2
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post(
        "/v1/telemetry", json={"reports": [report(seconds_ago=1)]}, headers=key
    )
    assert other.status_code == 409
    assert await count_positions(connection) == 2


async def test_an_idempotency_key_over_200_characters_is_refused(client, headers, connection):
    key = {**headers["integrator"], "Idempotency-Key": "k" * 201}
    r = await client.post("/v1/telemetry", json=report(seconds_ago=1), headers=key)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["pointer"] == "header:Idempotency-Key"
    assert await count_positions(connection) == 0


async def test_a_late_report_goes_to_history_but_never_replaces_the_latest(
    client, headers, connection
):
    await client.post(
        "/v1/telemetry", json=report(seconds_ago=5, lon=8.55), headers=headers["integrator"]
    )
    await client.post(
        "/v1/telemetry", json=report(seconds_ago=20, lon=8.50), headers=headers["integrator"]
    )
    live = (await client.get("/v1/drones/live", headers=headers["reviewer"])).json()
    [drone] = live["drones"]
    assert drone["lon"] == 8.55
    assert drone["registered"] is False
    assert await count_positions(connection, "SG-TEST-1") == 2


async def test_live_view_filters_by_box_and_window(client, headers):
    await client.post(
        "/v1/telemetry",
        json={
            "reports": [
                report(serial="ZRH", lon=8.54, lat=47.37),
                report(serial="GVA", lon=6.14, lat=46.20),
                report(serial="OLD", seconds_ago=3600),
                report(serial="FIJI", lon=179.9, lat=-17.0),
            ]
        },
        headers=headers["integrator"],
    )

    def serials(body):
        return [d["serial"] for d in body["drones"]]

    everything = (await client.get("/v1/drones/live", headers=headers["operator"])).json()
    assert serials(everything) == ["FIJI", "GVA", "ZRH"]
    zurich = (
        await client.get("/v1/drones/live?bbox=8,47,9,48", headers=headers["integrator"])
    ).json()
    assert serials(zurich) == ["ZRH"]
    dateline = (
        await client.get("/v1/drones/live?bbox=179,-20,-179,-10", headers=headers["reviewer"])
    ).json()
    assert serials(dateline) == ["FIJI"]


async def test_only_integrators_and_admins_post_telemetry(client, headers):
    for role, status in (("reviewer", 403), ("operator", 403), ("admin", 200), ("integrator", 200)):
        r = await client.post(
            "/v1/telemetry", json=report(serial=f"R-{role}"), headers=headers[role]
        )
        assert r.status_code == status, role
    assert (await client.post("/v1/telemetry", json=report())).status_code == 401
