"""The drone registry through the API: register, read, edit, search, page, audit, first seen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from skyguard.store.drones import ensure_seen
from skyguard.store.tables import Drone

PROBLEM = "application/problem+json"

ANNA = {"name": "Anna Keller", "phone": "+41 79 555 01 01", "id_number": "CH-1001"}


async def register(client, headers, serial, **fields):
    r = await client.post("/v1/drones", json={"serial": serial, **fields}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def search(client, headers, **params):
    r = await client.get("/v1/drones", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [d["serial"] for d in r.json()["drones"]]


def when(text):
    return datetime.fromisoformat(text)


async def test_register_then_get(client, headers):
    body = {
        "serial": "1581F5FHB22A",
        "model": "Mavic 3",
        "registration_id": "CHE-abc123",
        "owner": {**ANNA, "organisation": "Zurich Police"},
        "notes": "patrol drone",
    }
    r = await client.post("/v1/drones", json=body, headers=headers["operator"])
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/v1/drones/1581F5FHB22A"
    drone = r.json()
    owner = drone.pop("owner")
    assert uuid.UUID(owner.pop("id"))
    assert owner == {**ANNA, "organisation": "Zurich Police"}
    assert drone["registered"] is True
    assert drone["first_seen_at"] is None
    assert when(drone["created_at"]).tzinfo is not None
    assert {k: drone[k] for k in ("serial", "model", "registration_id", "notes")} == {
        k: body[k] for k in ("serial", "model", "registration_id", "notes")
    }
    r = await client.get("/v1/drones/1581F5FHB22A", headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    assert r.json() == {**drone, "owner": r.json()["owner"]}
    assert r.json()["owner"]["name"] == "Anna Keller"


async def test_register_without_owner(client, headers):
    drone = await register(client, headers["admin"], "SN-BARE")
    assert drone["owner"] is None
    assert drone["model"] is None


async def test_duplicate_serial_is_a_conflict(client, headers):
    await register(client, headers["operator"], "SN-DUP", model="first")
    r = await client.post(
        "/v1/drones", json={"serial": "SN-DUP", "model": "second"}, headers=headers["operator"]
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["pointer"] == "/serial"
    assert "already registered" in r.json()["detail"]
    r = await client.get("/v1/drones/SN-DUP", headers=headers["operator"])
    assert r.json()["model"] == "first"


async def test_one_owner_by_id_number_for_several_drones(client, headers):
    first = await register(client, headers["operator"], "SN-A1", owner={"id_number": "CH-1001"})
    second = await register(
        client, headers["operator"], "SN-A2", owner={**ANNA, "name": "A. Keller"}
    )
    assert first["owner"]["id"] == second["owner"]["id"]
    # The stored person is reused: blanks are filled, known fields are kept.
    assert second["owner"]["name"] == "A. Keller"
    assert second["owner"]["phone"] == ANNA["phone"]
    third = await register(client, headers["operator"], "SN-A3", owner=ANNA)
    assert third["owner"]["id"] == first["owner"]["id"]
    assert third["owner"]["name"] == "A. Keller"
    r = await client.get("/v1/drones", params={"owner": "CH-1001"}, headers=headers["reviewer"])
    drones = r.json()["drones"]
    assert [d["serial"] for d in drones] == ["SN-A1", "SN-A2", "SN-A3"]
    assert {d["owner"]["id"] for d in drones} == {first["owner"]["id"]}


async def test_owners_without_id_number_are_not_merged(client, headers):
    one = await register(client, headers["operator"], "SN-N1", owner={"name": "Sam"})
    two = await register(client, headers["operator"], "SN-N2", owner={"name": "Sam"})
    assert one["owner"]["id"] != two["owner"]["id"]


async def seed_registry(client, app, headers):
    await register(
        client, headers, "SN-1", model="Mavic 3", owner={**ANNA, "organisation": "Zurich Police"}
    )
    await register(
        client,
        headers,
        "SN-2",
        registration_id="REG-77",
        owner={"name": "Bruno Frei", "phone": "+41 44 000", "organisation": "SkyMedia AG"},
        notes="covers the gala",
    )
    async with app.state.db.session() as session:
        await ensure_seen(session, {"SN-3": datetime(2025, 6, 1, 20, 0, tzinfo=UTC)})


async def test_search_by_owner_organisation_text_and_registration(client, app, headers):
    await seed_registry(client, app, headers["operator"])
    reader = headers["integrator"]
    assert await search(client, reader) == ["SN-1", "SN-2", "SN-3"]
    assert await search(client, reader, owner="keller") == ["SN-1"]
    assert await search(client, reader, owner="CH-1001") == ["SN-1"]
    assert await search(client, reader, owner="+41 44 000") == ["SN-2"]
    assert await search(client, reader, owner="+41 44") == []  # phone matches exactly only
    assert await search(client, reader, owner="%") == []  # wildcards are literal
    assert await search(client, reader, organisation="skymedia") == ["SN-2"]
    assert await search(client, reader, organisation="police", owner="bruno") == []
    assert await search(client, reader, q="mavic") == ["SN-1"]
    assert await search(client, reader, q="GALA") == ["SN-2"]
    assert await search(client, reader, q="reg-7") == ["SN-2"]
    assert await search(client, reader, q="zurich") == ["SN-1"]
    assert await search(client, reader, q="sn-3") == ["SN-3"]
    assert await search(client, reader, q="  ") == ["SN-1", "SN-2", "SN-3"]
    assert await search(client, reader, registered="false") == ["SN-3"]
    assert await search(client, reader, registered="true") == ["SN-1", "SN-2"]
    r = await client.get("/v1/drones", params={"q": "gala"}, headers=reader)
    (drone,) = r.json()["drones"]
    assert drone["owner"]["name"] == "Bruno Frei"
    assert r.json()["next"] is None


async def test_paging_follows_next(client, app, headers):
    await seed_registry(client, app, headers["operator"])
    url, seen, pages = "/v1/drones?limit=1", [], 0
    while url:
        r = await client.get(url, headers=headers["reviewer"])
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["drones"]) == 1
        seen += [d["serial"] for d in page["drones"]]
        url, pages = page["next"], pages + 1
    assert seen == ["SN-1", "SN-2", "SN-3"]
    assert pages == 3


async def test_bad_cursor_is_refused(client, headers):
    r = await client.get("/v1/drones?cursor=not-a-cursor", headers=headers["reviewer"])
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["pointer"] == "query:cursor"


async def test_patch_changes_and_clears_fields(client, headers):
    created = await register(
        client, headers["operator"], "SN-P", model="Mini 2", notes="old", owner=ANNA
    )
    patch = {"model": "Mini 4", "notes": None, "owner": {"phone": None, "organisation": "CityOps"}}
    r = await client.patch("/v1/drones/SN-P", json=patch, headers=headers["operator"])
    assert r.status_code == 200, r.text
    drone = r.json()
    assert drone["model"] == "Mini 4"
    assert drone["notes"] is None
    assert drone["registration_id"] is None
    assert drone["owner"] == {
        **created["owner"],
        "phone": None,
        "organisation": "CityOps",
    }
    assert when(drone["updated_at"]) > when(created["updated_at"])
    assert (await client.get("/v1/drones/SN-P", headers=headers["reviewer"])).json() == drone
    r = await client.patch("/v1/drones/SN-P", json={"owner": None}, headers=headers["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["owner"] is None
    assert r.json()["model"] == "Mini 4"


async def test_patch_gives_an_ownerless_drone_an_owner(client, headers):
    owned = await register(client, headers["operator"], "SN-O1", owner=ANNA)
    await register(client, headers["operator"], "SN-O2")
    r = await client.patch(
        "/v1/drones/SN-O2", json={"owner": {"id_number": "CH-1001"}}, headers=headers["operator"]
    )
    assert r.json()["owner"] == owned["owner"]


async def test_patch_of_a_shared_owner_changes_it_for_every_drone(client, headers):
    await register(client, headers["operator"], "SN-S1", owner=ANNA)
    await register(client, headers["operator"], "SN-S2", owner={"id_number": "CH-1001"})
    r = await client.patch(
        "/v1/drones/SN-S1", json={"owner": {"name": "Anna Keller-Frei"}}, headers=headers["admin"]
    )
    assert r.status_code == 200, r.text
    other = (await client.get("/v1/drones/SN-S2", headers=headers["reviewer"])).json()
    assert other["owner"]["name"] == "Anna Keller-Frei"
    assert other["owner"]["id"] == r.json()["owner"]["id"]


async def test_patch_to_another_persons_id_number_conflicts(client, headers):
    await register(client, headers["operator"], "SN-C1", owner=ANNA)
    await register(client, headers["operator"], "SN-C2", owner={"id_number": "CH-2002"})
    r = await client.patch(
        "/v1/drones/SN-C2", json={"owner": {"id_number": "CH-1001"}}, headers=headers["operator"]
    )
    assert r.status_code == 409
    assert r.json()["pointer"] == "/owner/id_number"
    r = await client.get("/v1/drones/SN-C2", headers=headers["reviewer"])
    assert r.json()["owner"]["id_number"] == "CH-2002"


async def test_unknown_drone_is_404(client, headers):
    for r in (
        await client.get("/v1/drones/NOPE", headers=headers["reviewer"]),
        await client.patch("/v1/drones/NOPE", json={"notes": "x"}, headers=headers["operator"]),
    ):
        assert r.status_code == 404
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["detail"] == "no drone with serial 'NOPE'"


async def test_invalid_bodies_name_the_field(client, headers):
    r = await client.post("/v1/drones", json={"serial": "  "}, headers=headers["operator"])
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/serial"
    r = await client.post("/v1/drones", json={"serial": "X", "owner": {}}, headers=headers["admin"])
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/owner"


async def test_keys_and_roles(client, headers):
    await register(client, headers["operator"], "SN-R")
    r = await client.get("/v1/drones/SN-R")
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM
    assert (await client.post("/v1/drones", json={"serial": "SN-X"})).status_code == 401
    r = await client.post("/v1/drones", json={"serial": "SN-X"}, headers=headers["integrator"])
    assert r.status_code == 403
    assert r.headers["content-type"] == PROBLEM
    r = await client.patch("/v1/drones/SN-R", json={"notes": "x"}, headers=headers["reviewer"])
    assert r.status_code == 403
    r = await client.get("/v1/drones/SN-R", headers=headers["integrator"])
    assert r.status_code == 200
    assert r.json()["serial"] == "SN-R"
    r = await client.get("/v1/drones/SN-X", headers=headers["integrator"])
    assert r.status_code == 404  # the refused POST stored nothing


async def test_first_seen_drone_becomes_registered(client, app, headers):
    seen_at = datetime(2025, 6, 1, 20, 15, tzinfo=UTC)
    await register(client, headers["operator"], "SN-KNOWN")
    async with app.state.db.session() as session:
        await ensure_seen(session, {})
        await ensure_seen(session, {"SN-BLACK": seen_at, "SN-KNOWN": seen_at})
        # A later batch changes nothing about drones already known.
        await ensure_seen(session, {"SN-BLACK": datetime(2025, 6, 1, 19, 0, tzinfo=UTC)})
    r = await client.get("/v1/drones/SN-BLACK", headers=headers["integrator"])
    black = r.json()
    assert black["registered"] is False
    assert black["owner"] is None
    assert when(black["first_seen_at"]) == seen_at
    r = await client.patch(
        "/v1/drones/SN-BLACK", json={"notes": "over the gala"}, headers=headers["operator"]
    )
    assert r.json()["notes"] == "over the gala"
    assert r.json()["registered"] is False
    known = (await client.get("/v1/drones/SN-KNOWN", headers=headers["reviewer"])).json()
    assert known["registered"] is True
    assert known["first_seen_at"] is None
    r = await client.post(
        "/v1/drones",
        json={"serial": "SN-BLACK", "model": "Avata", "owner": {"name": "Pilot Found"}},
        headers=headers["operator"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["registered"] is True
    assert r.json()["model"] == "Avata"
    assert r.json()["notes"] == "over the gala"  # kept: the body left it out
    assert r.json()["owner"]["name"] == "Pilot Found"
    assert when(r.json()["first_seen_at"]) == seen_at
    assert await search(client, headers["reviewer"], registered="false") == []
    r = await client.post("/v1/drones", json={"serial": "SN-BLACK"}, headers=headers["operator"])
    assert r.status_code == 409


async def test_writes_are_audited(client, app, headers):
    async with app.state.db.session() as session:
        await ensure_seen(session, {"SN-AUD": datetime(2025, 6, 1, tzinfo=UTC)})
    registered = await register(client, headers["operator"], "SN-AUD", owner=ANNA)
    r = await client.patch("/v1/drones/SN-AUD", json={"notes": "seen"}, headers=headers["admin"])
    patched = r.json()
    # A patch that changes nothing leaves no entry.
    r = await client.patch("/v1/drones/SN-AUD", json={"notes": "seen"}, headers=headers["admin"])
    assert r.json() == patched
    r = await client.get("/v1/audit?object_type=drone", headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    entries = [e for e in r.json()["entries"] if e["object_id"] == "SN-AUD"]
    assert [e["action"] for e in entries] == ["register", "update"]
    assert [e["key_name"] for e in entries] == ["test operator", "test admin"]
    assert entries[0]["before"]["registered"] is False
    assert entries[0]["after"] == registered
    assert entries[1]["before"]["notes"] is None
    assert entries[1]["after"] == patched
    assert (await client.get("/v1/audit", headers=headers["admin"])).status_code == 200


async def test_ensure_seen_takes_a_batch_beyond_the_parameter_limit(app):
    at = datetime(2025, 6, 1, tzinfo=UTC)
    batch = {f"BULK-{i:06d}": at for i in range(25_000)}
    async with app.state.db.session() as session:
        await ensure_seen(session, batch)
        count = await session.scalar(
            select(func.count()).where(Drone.serial.like("BULK-%"), Drone.registered.is_(False))
        )
    assert count == 25_000
