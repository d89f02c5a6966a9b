"""Districts through the API: drawn with the zones' geometry rules, read, deleted, audited."""

from __future__ import annotations

from sqlalchemy import text

from skyguard.fixtures import load_fixtures, read_fixtures

PROBLEM = "application/problem+json"
KREIS = [[8.51, 47.378], [8.52, 47.372], [8.531, 47.371], [8.536, 47.377], [8.51, 47.378]]


def district(geometry=None, **properties):
    return {
        "type": "Feature",
        "geometry": geometry or {"type": "Polygon", "coordinates": [KREIS]},
        "properties": {"name": "Kreis 4", **properties},
    }


async def create(client, headers, body, role="operator"):
    r = await client.post("/v1/districts", json=body, headers=headers[role])
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_district_is_created_read_listed_and_deleted(client, headers, connection):
    created = await create(client, headers, district(code="K4", description="Aussersihl"))
    assert created["properties"] == {
        "id": created["id"],
        "name": "Kreis 4",
        "code": "K4",
        "description": "Aussersihl",
        "created_at": created["properties"]["created_at"],
    }
    assert created["geometry"] == {"type": "Polygon", "coordinates": [KREIS]}
    url = f"/v1/districts/{created['id']}"
    assert (await client.get(url, headers=headers["reviewer"])).json() == created
    await create(client, headers, district(name="Altstadt"), role="admin")
    listed = (await client.get("/v1/districts", headers=headers["reviewer"])).json()
    assert listed["type"] == "FeatureCollection"
    assert [f["properties"]["name"] for f in listed["features"]] == ["Altstadt", "Kreis 4"]
    r = await client.delete(url, headers=headers["operator"])
    assert r.status_code == 204
    assert (await client.get(url, headers=headers["reviewer"])).status_code == 404
    assert (await client.delete(url, headers=headers["operator"])).status_code == 404
    audit = await connection.execute(
        text(
            "SELECT action, before IS NOT NULL, after IS NOT NULL FROM audit_log"
            " WHERE object_type = 'district' AND object_id = :id ORDER BY id"
        ),
        {"id": created["id"]},
    )
    assert audit.all() == [("create", False, True), ("delete", True, False)]


async def test_a_clockwise_multipolygon_comes_back_counter_clockwise(client, headers):
    clockwise = list(reversed(KREIS))
    far = [[8.60, 47.40], [8.61, 47.40], [8.61, 47.41], [8.60, 47.41], [8.60, 47.40]]
    body = district({"type": "MultiPolygon", "coordinates": [[clockwise], [far]]})
    created = await create(client, headers, body)
    assert created["geometry"] == {"type": "MultiPolygon", "coordinates": [[KREIS], [far]]}


async def test_a_duplicate_name_is_409(client, headers):
    await create(client, headers, district())
    r = await client.post("/v1/districts", json=district(), headers=headers["operator"])
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert r.json()["pointer"] == "/properties/name"
    assert "Kreis 4" in r.json()["detail"]


async def test_bad_geometry_is_422_with_the_zones_reasons(client, headers):
    bowtie = [[8.50, 47.30], [8.51, 47.31], [8.51, 47.30], [8.50, 47.31], [8.50, 47.30]]
    cases = [
        ({"type": "Point", "coordinates": [8.5, 47.3]}, "/geometry/type", "Polygon"),
        ({"type": "Polygon", "coordinates": [bowtie]}, "/geometry/coordinates/0", "self-inter"),
        ({"type": "Polygon", "coordinates": [KREIS[:-1]]}, "/geometry/coordinates/0", "closed"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[8.5, 47.3], [8.6, 95.0], [8.7, 47.3], [8.5, 47.3]]],
            },
            "/geometry/coordinates/0/1",
            "latitude",
        ),
    ]
    for geometry, pointer, reason in cases:
        r = await client.post("/v1/districts", json=district(geometry), headers=headers["operator"])
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["pointer"] == pointer and reason in r.json()["detail"]
    r = await client.post("/v1/districts", json=district(name=""), headers=headers["operator"])
    assert r.status_code == 422 and r.json()["pointer"] == "/properties/name"


async def test_roles(client, headers):
    assert (await client.post("/v1/districts", json=district())).status_code == 401
    for role in ("reviewer", "integrator"):
        r = await client.post("/v1/districts", json=district(), headers=headers[role])
        assert r.status_code == 403
    created = await create(client, headers, district())
    url = f"/v1/districts/{created['id']}"
    assert (await client.get("/v1/districts", headers=headers["integrator"])).status_code == 403
    assert (await client.get(url)).status_code == 401
    assert (await client.delete(url, headers=headers["reviewer"])).status_code == 403
    for role in ("operator", "reviewer", "admin"):
        assert (await client.get(url, headers=headers[role])).status_code == 200


async def test_the_demo_fixtures_hold_four_districts_loaded_once(app, client, headers):
    data = read_fixtures()
    async with app.state.db.session() as session:
        first = await load_fixtures(session, data)
    async with app.state.db.session() as session:
        again = await load_fixtures(session, data)
    assert first["districts"] == 4 and again["districts"] == 0
    listed = (await client.get("/v1/districts", headers=headers["reviewer"])).json()
    names = [f["properties"]["name"] for f in listed["features"]]
    assert names == sorted(names) and len(names) == 4
    assert {f["properties"]["code"] for f in listed["features"]} == {"K1", "K4", "K9", "K11"}
