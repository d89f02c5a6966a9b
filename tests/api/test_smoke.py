async def test_health(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text


async def test_zone_roundtrip(client, headers):
    feature = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[8.5, 47.3], [8.6, 47.3], [8.6, 47.4], [8.5, 47.3]]],
        },
        "properties": {"name": "test"},
    }
    r = await client.post("/v1/zones", json=feature, headers=headers["operator"])
    assert r.status_code == 201, r.text
    zid = r.json()["id"]
    r = await client.get(f"/v1/zones/{zid}", headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    r = await client.get("/v1/zones?bbox=8,47,9,48", headers=headers["reviewer"])
    assert len(r.json()["features"]) == 1, r.text
