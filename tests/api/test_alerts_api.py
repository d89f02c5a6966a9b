"""Alerts through the API: list and filters, paging, ack and resolve, occupancy, the live view."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, text

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
WEST, EAST = 8.50, 8.51
INSIDE_LON = 8.505
FAR_LON = 8.48


def square(west=WEST, east=EAST, south=47.30, north=47.31):
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


async def draw(client, headers, coordinates=None, **properties):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": coordinates or square()},
        "properties": {"name": "alert zone", **properties},
    }
    r = await client.post("/v1/zones", json=feature, headers=headers["operator"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


def at(seconds, lon, serial, lat=47.305, start=T0):
    time = (start + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": lat, "height_m": 50.0}


async def post(client, headers, *reports):
    r = await client.post(
        "/v1/telemetry", json={"reports": list(reports)}, headers=headers["integrator"]
    )
    assert r.status_code == 200, r.text
    return r.json()["alerts"]


async def alert_list(client, headers, role="reviewer", **params):
    r = await client.get("/v1/alerts", params=params, headers=headers[role])
    assert r.status_code == 200, r.text
    return r.json()


async def ids(client, headers, **params):
    return [a["id"] for a in (await alert_list(client, headers, **params))["alerts"]]


async def scene(client, headers):
    """Z1: SG-A inside (open, opened T0+10), SG-C approaching (T0+30); Z2: SG-B in and out."""
    z1 = await draw(client, headers, warning_buffer_m=200)
    z2 = await draw(client, headers, square(8.60, 8.61))
    [a] = await post(client, headers, at(10, INSIDE_LON, "SG-A"))
    [b] = await post(client, headers, at(20, 8.605, "SG-B"))
    [b_closed] = await post(client, headers, at(60, 8.58, "SG-B"))
    assert b_closed["status"] == "closed" and b_closed["close_reason"] == "exited"
    [c] = await post(client, headers, at(30, 8.4990, "SG-C"))
    assert (a["kind"], b["kind"], c["kind"]) == ("breach", "breach", "approach")
    return {"z1": z1, "z2": z2, "a": a["id"], "b": b["id"], "c": c["id"]}


async def test_list_filters_each_narrow_the_alerts(client, headers):
    s = await scene(client, headers)
    r = await client.post(f"/v1/alerts/{s['a']}/ack", headers=headers["operator"])
    assert r.status_code == 200, r.text
    body = await alert_list(client, headers)
    assert [a["id"] for a in body["alerts"]] == [s["c"], s["b"], s["a"]]  # newest opened first
    assert body["next"] is None
    first = body["alerts"][2]
    assert first["serial"] == "SG-A" and first["zone_id"] == s["z1"]
    assert first["status"] == "acknowledged" and first["acknowledged_by"] == "test operator"
    assert first["drone"]["registered"] is False and first["drone"]["owner"] is None
    assert await ids(client, headers, status="open") == [s["c"]]
    assert await ids(client, headers, status="acknowledged,closed") == [s["b"], s["a"]]
    assert await ids(client, headers, status=["open", "closed"]) == [s["c"], s["b"]]
    assert await ids(client, headers, status="resolved") == []
    assert await ids(client, headers, kind="approach") == [s["c"]]
    assert await ids(client, headers, kind="breach") == [s["b"], s["a"]]
    assert await ids(client, headers, zone_id=s["z2"]) == [s["b"]]
    assert await ids(client, headers, zone_id=s["z1"], kind="breach") == [s["a"]]
    assert await ids(client, headers, serial="SG-A") == [s["a"]]
    assert await ids(client, headers, since=(T0 + timedelta(seconds=20)).isoformat()) == [
        s["c"],
        s["b"],
    ]
    assert await ids(client, headers, until=(T0 + timedelta(seconds=20)).isoformat()) == [s["a"]]
    assert await ids(client, headers, since="2999-01-01T00:00:00+02:00") == []


async def test_bad_filters_are_problems(client, headers):
    for params, pointer in [
        ({"status": "open,gone"}, "query:status"),
        ({"kind": "crash"}, "query:kind"),
        ({"since": "2026-01-01T00:00:00"}, "query:since"),  # no offset
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "query:until"),
        ({"cursor": "not-a-cursor"}, "query:cursor"),
    ]:
        r = await client.get("/v1/alerts", params=params, headers=headers["operator"])
        assert r.status_code == 422, params
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["pointer"] == pointer, r.json()


async def test_paging_returns_every_alert_exactly_once(client, headers):
    await draw(client, headers)
    # Two pairs open at the same instant, so pages must break ties by id.
    for second, serials in [(0, ["P1", "P2"]), (5, ["P3"]), (9, ["P4", "P5"]), (12, ["P6"])]:
        await post(client, headers, *(at(second, INSIDE_LON, s) for s in serials))
    everything = await ids(client, headers)
    assert len(everything) == 6
    seen: list[str] = []
    url: str | None = "/v1/alerts?limit=2&status=open&status=acknowledged"
    pages = 0
    while url:
        r = await client.get(url, headers=headers["operator"])
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["alerts"]) <= 2
        seen += [a["id"] for a in page["alerts"]]
        url = page["next"]
        pages += 1
        if url:
            assert "status=open" in url and "status=acknowledged" in url
    assert seen == everything
    assert pages == 3


async def test_get_one_alert_and_unknown_ones(client, headers):
    s = await scene(client, headers)
    r = await client.get(f"/v1/alerts/{s['b']}", headers=headers["reviewer"])
    assert r.status_code == 200
    listed = (await alert_list(client, headers, serial="SG-B"))["alerts"][0]
    assert r.json() == listed
    assert listed["close_reason"] == "exited" and listed["closed_at"] is not None
    missing = uuid.uuid4()
    for method, path in [
        ("GET", f"/v1/alerts/{missing}"),
        ("POST", f"/v1/alerts/{missing}/ack"),
        ("POST", f"/v1/alerts/{missing}/resolve"),
        ("GET", "/v1/alerts/not-a-uuid"),
    ]:
        r = await client.request(method, path, headers=headers["operator"])
        assert r.status_code == 404, (method, path)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.get(f"/v1/alerts/{missing}", headers=headers["operator"])
    assert r.json()["detail"] == f"no alert {missing}"


async def events_of(connection, alert_id):
    rows = await connection.execute(
        text("SELECT type, body FROM alert_events WHERE alert_id = :id ORDER BY id"),
        {"id": alert_id},
    )
    return [(kind, body) for kind, body in rows]


async def audit_of(connection, alert_id):
    rows = await connection.execute(
        text(
            "SELECT action, key_name, before, after FROM audit_log"
            " WHERE object_type = 'alert' AND object_id = :id ORDER BY id"
        ),
        {"id": alert_id},
    )
    return rows.all()


async def test_ack_then_resolve_records_who_audit_and_events(client, headers, connection):
    s = await scene(client, headers)
    acked = await client.post(
        f"/v1/alerts/{s['a']}/ack", json={"note": " on the phone "}, headers=headers["operator"]
    )
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["status"] == "acknowledged" and body["closed_at"] is None
    assert body["acknowledged_by"] == "test operator" and body["acknowledged_at"] is not None
    assert body["note"] == "on the phone" and body["resolved_at"] is None
    resolved = (await client.post(f"/v1/alerts/{s['a']}/resolve", headers=headers["admin"])).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "test admin"
    assert resolved["acknowledged_by"] == "test operator" and resolved["note"] == "on the phone"
    assert (await client.get(f"/v1/alerts/{s['a']}", headers=headers["operator"])).json() == (
        resolved
    )
    events = await events_of(connection, s["a"])
    assert [kind for kind, _ in events] == ["alert.opened", "alert.acknowledged", "alert.resolved"]
    assert events[1][1] == body and events[2][1] == resolved
    [ack_entry, resolve_entry] = await audit_of(connection, s["a"])
    assert ack_entry.action == "acknowledge" and ack_entry.key_name == "test operator"
    assert ack_entry.before["status"] == "open" and ack_entry.after == body
    assert resolve_entry.action == "resolve" and resolve_entry.key_name == "test admin"
    assert resolve_entry.before == body and resolve_entry.after == resolved


async def test_a_closed_alert_keeps_its_status_when_acknowledged(client, headers, connection):
    s = await scene(client, headers)
    acked = (await client.post(f"/v1/alerts/{s['b']}/ack", headers=headers["admin"])).json()
    assert acked["status"] == "closed" and acked["acknowledged_by"] == "test admin"
    resolved = await client.post(
        f"/v1/alerts/{s['b']}/resolve", json={"note": "pilot called"}, headers=headers["operator"]
    )
    assert resolved.json()["status"] == "resolved" and resolved.json()["note"] == "pilot called"
    types = [kind for kind, _ in await events_of(connection, s["b"])]
    assert types[-2:] == ["alert.acknowledged", "alert.resolved"]


async def test_conflicts(client, headers, connection):
    s = await scene(client, headers)
    assert (await client.post(f"/v1/alerts/{s['a']}/ack", headers=headers["operator"])).is_success
    for path, fragment in [
        (f"/v1/alerts/{s['a']}/ack", "already acknowledged by 'test operator'"),
        (f"/v1/alerts/{s['c']}/resolve", None),
        (f"/v1/alerts/{s['c']}/resolve", "already resolved by 'test operator'"),
        (f"/v1/alerts/{s['c']}/ack", "is resolved"),
    ]:
        r = await client.post(path, headers=headers["operator"])
        if fragment is None:
            assert r.status_code == 200
            continue
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert fragment in r.json()["detail"]
    # a refused change writes nothing
    assert [kind for kind, _ in await events_of(connection, s["c"])] == [
        "alert.opened",
        "alert.resolved",
    ]
    assert len(await audit_of(connection, s["c"])) == 1


async def test_roles(client, headers):
    s = await scene(client, headers)
    checks = [
        ("GET", "/v1/alerts", "integrator", 403),
        ("GET", f"/v1/alerts/{s['a']}", "integrator", 403),
        ("POST", f"/v1/alerts/{s['a']}/ack", "integrator", 403),
        ("POST", f"/v1/alerts/{s['a']}/ack", "reviewer", 403),
        ("POST", f"/v1/alerts/{s['a']}/resolve", "reviewer", 403),
        ("GET", f"/v1/zones/{s['z1']}/occupancy", "integrator", 403),
        ("GET", "/v1/alerts", None, 401),
        ("POST", f"/v1/alerts/{s['a']}/ack", None, 401),
        ("GET", f"/v1/zones/{s['z1']}/occupancy", None, 401),
    ]
    for method, path, role, status in checks:
        r = await client.request(method, path, headers=headers[role] if role else {})
        assert r.status_code == status, (method, path, role)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == status
    for role in ("reviewer", "operator", "admin"):
        assert len((await alert_list(client, headers, role=role))["alerts"]) == 3
    after = (await client.get(f"/v1/alerts/{s['a']}", headers=headers["operator"])).json()
    assert after["status"] == "open" and after["acknowledged_at"] is None


async def test_occupancy_lists_the_drones_inside_now(client, headers):
    r = await client.post(
        "/v1/drones",
        json={"serial": "SG-A", "registration_id": "CH-123", "owner": {"name": "Ada"}},
        headers=headers["operator"],
    )
    assert r.status_code == 201, r.text
    s = await scene(client, headers)
    await post(client, headers, at(40, INSIDE_LON + 0.001, "SG-A"))
    r = await client.get(f"/v1/zones/{s['z1']}/occupancy", headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["zone_id"] == s["z1"]
    [drone] = body["drones"]  # SG-C only approaches: not inside
    assert drone["serial"] == "SG-A" and drone["registered"] is True
    assert drone["registration_id"] == "CH-123" and drone["owner"]["name"] == "Ada"
    assert drone["position"]["lon"] == INSIDE_LON + 0.001 and drone["position"]["lat"] == 47.305
    assert drone["position"]["time"] == (T0 + timedelta(seconds=40)).isoformat().replace(
        "+00:00", "Z"
    )
    assert drone["alert"]["id"] == s["a"] and drone["alert"]["status"] == "open"
    left = await client.get(f"/v1/zones/{s['z2']}/occupancy", headers=headers["operator"])
    assert left.json()["drones"] == []  # SG-B left 40 s after entering: closed "exited"
    missing = await client.get(f"/v1/zones/{uuid.uuid4()}/occupancy", headers=headers["admin"])
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_live_view_shows_open_alerts_in_one_query(client, headers, engine):
    zone_id = await draw(client, headers)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20)
    [alert] = await post(
        client,
        headers,
        at(0, INSIDE_LON, "LIVE-IN", start=now),
        at(0, FAR_LON, "LIVE-OUT", start=now),
        at(1, FAR_LON + 0.001, "LIVE-OUT-2", start=now),
    )
    await client.post(f"/v1/alerts/{alert['id']}/ack", headers=headers["operator"])
    statements: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", remember)
    try:
        r = await client.get("/v1/drones/live", headers=headers["reviewer"])
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", remember)
    assert r.status_code == 200, r.text
    live = {d["serial"]: d for d in r.json()["drones"]}
    assert live["LIVE-IN"]["open_alerts"] == [
        {
            "id": alert["id"],
            "zone_id": zone_id,
            "kind": "breach",
            "severity": "critical",
            "status": "acknowledged",
        }
    ]
    assert live["LIVE-OUT"]["open_alerts"] == [] and live["LIVE-OUT-2"]["open_alerts"] == []
    assert sum("FROM alerts" in s for s in statements) == 1
