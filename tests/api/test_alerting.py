"""Reports in, alerts out: transitions persisted as alerts through the telemetry endpoint."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
SQUARE = [[[8.50, 47.30], [8.51, 47.30], [8.51, 47.31], [8.50, 47.31], [8.50, 47.30]]]


async def draw(client, headers, coordinates=SQUARE, **properties):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": coordinates},
        "properties": {"name": "test zone", **properties},
    }
    r = await client.post("/v1/zones", json=feature, headers=headers["operator"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


def at(seconds, lon, lat, serial="SG-A", **extra):
    time = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": lat, "height_m": 50.0, **extra}


async def post(client, headers, *reports):
    r = await client.post(
        "/v1/telemetry", json={"reports": list(reports)}, headers=headers["integrator"]
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_entry_opens_one_alert_and_a_far_exit_closes_it(client, headers, connection):
    zone_id = await draw(client, headers)
    outside = await post(client, headers, at(0, 8.49, 47.305))
    assert outside["alerts"] == []
    entered = await post(client, headers, at(10, 8.505, 47.305), at(11, 8.5051, 47.305))
    [alert] = entered["alerts"]
    assert alert["status"] == "open"
    assert alert["kind"] == "breach" and alert["severity"] == "critical"
    assert alert["zone_id"] == zone_id and alert["zone_version"] == 1
    assert alert["drone"]["serial"] == "SG-A" and alert["drone"]["registered"] is False
    assert alert["depth_m"] > 300
    staying = await post(client, headers, at(12, 8.5052, 47.305))
    assert [a["id"] for a in staying["alerts"]] == [alert["id"]]
    left = await post(client, headers, at(30, 8.48, 47.305))
    [closed] = left["alerts"]
    assert closed["id"] == alert["id"]
    assert closed["status"] == "closed" and closed["close_reason"] == "exited"
    events = await connection.execute(text("SELECT type FROM alert_events ORDER BY id"))
    # open + update for the entering batch (two reports inside), update, close
    assert [e for (e,) in events] == [
        "alert.opened",
        "alert.updated",
        "alert.updated",
        "alert.closed",
    ]


async def test_a_segment_through_a_zone_opens_and_closes_an_alert(client, headers):
    await draw(
        client,
        headers,
        [[[8.505, 47.30], [8.5055, 47.30], [8.5055, 47.31], [8.505, 47.31], [8.505, 47.30]]],
    )
    result = await post(client, headers, at(0, 8.503, 47.305), at(10, 8.508, 47.305))
    [alert] = result["alerts"]
    assert alert["close_reason"] == "crossed"
    assert alert["entry"]["lon"] == alert["entry"]["lon"]  # an entry point on the boundary
    assert abs(alert["entry"]["lon"] - 8.505) < 1e-6


async def test_an_exempt_drone_raises_nothing(client, headers):
    zone_id = await draw(client, headers)
    window = {
        "valid_from": (T0 - timedelta(hours=1)).isoformat(),
        "valid_until": (T0 + timedelta(hours=1)).isoformat(),
    }
    r = await client.post(
        f"/v1/zones/{zone_id}/exemptions",
        json={"serial": "SG-A", **window},
        headers=headers["operator"],
    )
    assert r.status_code == 201
    assert (await post(client, headers, at(0, 8.505, 47.305)))["alerts"] == []
    assert len((await post(client, headers, at(0, 8.505, 47.305, serial="SG-B")))["alerts"]) == 1


async def test_a_zone_edit_applies_to_the_next_report(client, headers):
    zone_id = await draw(client, headers, floor_m=0, ceiling_m=40)
    assert (await post(client, headers, at(0, 8.505, 47.305)))["alerts"] == []  # 50 m: above it
    r = await client.patch(
        f"/v1/zones/{zone_id}", json={"properties": {"ceiling_m": 120}}, headers=headers["operator"]
    )
    assert r.json()["properties"]["version"] == 2
    [alert] = (await post(client, headers, at(1, 8.505, 47.305)))["alerts"]
    assert alert["zone_version"] == 2
