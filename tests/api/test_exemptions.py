"""Exemptions (authorisations) through the API: grant, list, revoke, and what is refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.test_zones import assert_problem, create_zone, feature

WINDOW = {"valid_from": "2026-06-03T18:00:00+02:00", "valid_until": "2026-06-04T02:00:00+02:00"}


def exemption(**fields: Any) -> dict[str, Any]:
    """An exemption body; serial and window default to a media drone at the gala."""
    return {"serial": "1581F5FHD23A0001", **WINDOW, **fields}


@pytest.fixture
async def zone_id(client, headers) -> str:
    created = await create_zone(client, headers, feature(name="gala", category="restricted"))
    return str(created["id"])


async def test_grant_list_and_revoke(client, headers, zone_id):
    url = f"/v1/zones/{zone_id}/exemptions"
    r = await client.post(
        url,
        json=exemption(floor_m=0, ceiling_m=80, reason="press pool"),
        headers=headers["operator"],
    )
    assert r.status_code == 201, r.text
    granted = r.json()
    exemption_id = granted["id"]
    uuid.UUID(exemption_id)
    assert r.headers["location"] == f"{url}/{exemption_id}"
    assert granted == {
        "id": exemption_id,
        "zone_id": zone_id,
        "serial": "1581F5FHD23A0001",
        "valid_from": "2026-06-03T16:00:00Z",
        "valid_until": "2026-06-04T00:00:00Z",
        "floor_m": 0.0,
        "ceiling_m": 80.0,
        "reason": "press pool",
        "created_at": granted["created_at"],
        "revoked_at": None,
    }
    other = await client.post(url, json=exemption(serial="OTHER-2"), headers=headers["admin"])
    assert other.status_code == 201, other.text
    assert other.json()["floor_m"] is None
    assert other.json()["ceiling_m"] is None
    assert other.json()["reason"] is None

    listed = await client.get(url, headers=headers["reviewer"])
    assert listed.status_code == 200, listed.text
    assert {e["id"]: e for e in listed.json()["exemptions"]} == {
        exemption_id: granted,
        other.json()["id"]: other.json(),
    }

    r = await client.delete(f"{url}/{exemption_id}", headers=headers["operator"])
    assert r.status_code == 200, r.text
    revoked = r.json()
    assert revoked["revoked_at"] is not None
    assert revoked["revoked_at"].endswith("Z")
    assert {k: v for k, v in revoked.items() if k != "revoked_at"} == {
        k: v for k, v in granted.items() if k != "revoked_at"
    }
    # revoked ones stay listed; revoking twice changes nothing
    listed = (await client.get(url, headers=headers["operator"])).json()["exemptions"]
    assert {e["id"]: e["revoked_at"] for e in listed} == {
        exemption_id: revoked["revoked_at"],
        other.json()["id"]: None,
    }
    again = await client.delete(f"{url}/{exemption_id}", headers=headers["operator"])
    assert again.status_code == 200
    assert again.json() == revoked


async def test_a_new_zone_has_no_exemptions(client, headers, zone_id):
    r = await client.get(f"/v1/zones/{zone_id}/exemptions", headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    assert r.json() == {"exemptions": []}


BAD_EXEMPTIONS = [
    pytest.param(
        {"valid_until": "2026-06-03T15:00:00Z"}, "/valid_until", "after valid_from", id="backwards"
    ),
    pytest.param(
        {"valid_until": "2026-06-03T16:00:00Z"}, "/valid_until", "after valid_from", id="empty"
    ),
    pytest.param({"valid_from": "2026-06-03T18:00:00"}, "/valid_from", None, id="naive-from"),
    pytest.param({"valid_until": "2026-06-04T02:00:00"}, "/valid_until", None, id="naive-until"),
    pytest.param({"valid_from": None}, "/valid_from", None, id="no-from"),
    pytest.param({"serial": None}, "/serial", None, id="no-serial"),
    pytest.param({"serial": ""}, "/serial", None, id="empty-serial"),
    pytest.param({"floor_m": 100, "ceiling_m": 50}, "/ceiling_m", "above floor_m", id="band"),
    pytest.param({"floor_m": "low"}, "/floor_m", None, id="floor-not-a-number"),
]


@pytest.mark.parametrize(("fields", "pointer", "detail"), BAD_EXEMPTIONS)
async def test_bad_exemption_is_422(client, headers, zone_id, fields, pointer, detail):
    body = {k: v for k, v in exemption(**fields).items() if v is not None}
    url = f"/v1/zones/{zone_id}/exemptions"
    r = await client.post(url, json=body, headers=headers["operator"])
    assert_problem(r, 422, pointer, detail)
    assert (await client.get(url, headers=headers["operator"])).json() == {"exemptions": []}


async def test_non_finite_band_is_422(client, headers, zone_id):
    text = (
        '{"serial": "X", "valid_from": "2026-06-03T16:00:00Z", '
        '"valid_until": "2026-06-04T00:00:00Z", "ceiling_m": Infinity}'
    )
    r = await client.post(
        f"/v1/zones/{zone_id}/exemptions",
        content=text,
        headers={**headers["operator"], "content-type": "application/json"},
    )
    assert_problem(r, 422, "/ceiling_m")


@pytest.mark.parametrize(
    ("method", "body"), [("POST", exemption()), ("GET", None)], ids=["grant", "list"]
)
async def test_unknown_zone_is_404(client, headers, method, body):
    missing = uuid.uuid4()
    r = await client.request(
        method, f"/v1/zones/{missing}/exemptions", json=body, headers=headers["operator"]
    )
    assert_problem(r, 404, detail=str(missing))


async def test_unknown_exemption_is_404(client, headers, zone_id):
    missing = uuid.uuid4()
    r = await client.delete(
        f"/v1/zones/{zone_id}/exemptions/{missing}", headers=headers["operator"]
    )
    assert_problem(r, 404, detail=str(missing))


async def test_exemption_of_another_zone_is_404(client, headers, zone_id):
    other = await create_zone(client, headers, feature(name="other"))
    r = await client.post(
        f"/v1/zones/{zone_id}/exemptions", json=exemption(), headers=headers["operator"]
    )
    exemption_id = r.json()["id"]
    r = await client.delete(
        f"/v1/zones/{other['id']}/exemptions/{exemption_id}", headers=headers["operator"]
    )
    assert_problem(r, 404)
    listed = await client.get(f"/v1/zones/{zone_id}/exemptions", headers=headers["operator"])
    assert [e["revoked_at"] for e in listed.json()["exemptions"]] == [None]


async def test_archived_zone_is_409(client, headers, zone_id):
    url = f"/v1/zones/{zone_id}/exemptions"
    granted = await client.post(url, json=exemption(), headers=headers["operator"])
    assert granted.status_code == 201
    r = await client.delete(f"/v1/zones/{zone_id}", headers=headers["operator"])
    assert r.status_code == 200, r.text

    r = await client.post(url, json=exemption(serial="LATE"), headers=headers["operator"])
    assert_problem(r, 409, detail="archived")
    # what was granted before stays readable, and can still be revoked
    listed = await client.get(url, headers=headers["reviewer"])
    assert [e["serial"] for e in listed.json()["exemptions"]] == ["1581F5FHD23A0001"]
    r = await client.delete(f"{url}/{granted.json()['id']}", headers=headers["operator"])
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"]
