import gc

from skyguard.app import create_app


async def test_health(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text


async def test_the_readiness_probe_reads_no_migration_script(client, app, monkeypatch):
    def parse_scripts():
        raise AssertionError("the probe parsed the migration scripts again")

    monkeypatch.setattr("skyguard.store.migrate.ScriptDirectory.from_config", parse_scripts)
    for _ in range(2):
        r = await client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ready", "migration": app.state.migration_head}


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


async def test_a_serving_process_runs_the_collectors_youngest_pass_less_often(settings):
    before = gc.get_threshold()
    served = create_app(settings.model_copy(update={"gc_young_threshold": 40_000}))
    try:
        async with served.router.lifespan_context(served):
            assert gc.get_threshold() == (40_000, *before[1:])
    finally:
        gc.set_threshold(*before)
    untouched = create_app(settings)  # 0: Python's own thresholds stay
    async with untouched.router.lifespan_context(untouched):
        assert gc.get_threshold() == before
