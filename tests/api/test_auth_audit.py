"""API keys, roles per endpoint family, and the append-only audit log."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from skyguard.store.keys import CallerCache, create_key
from tests.api.test_zones import assert_problem, create_zone, feature, square

ROLES = ("admin", "operator", "integrator", "reviewer")


async def _setup(client: httpx.AsyncClient, headers: dict[str, dict[str, str]]) -> dict[str, str]:
    """A zone with one exemption, for the endpoints that need them."""
    zone = await create_zone(client, headers, feature(name="target"))
    r = await client.post(
        f"/v1/zones/{zone['id']}/exemptions",
        json={
            "serial": "S1",
            "valid_from": "2026-06-03T16:00:00Z",
            "valid_until": "2026-06-04T00:00:00Z",
        },
        headers=headers["operator"],
    )
    assert r.status_code == 201, r.text
    return {"zone": zone["id"], "exemption": r.json()["id"]}


# (method, path, body, status when allowed, the roles allowed besides admin)
ENDPOINTS: list[tuple[str, str, Any, int, tuple[str, ...]]] = [
    ("GET", "/v1/zones", None, 200, ("operator", "reviewer")),
    ("GET", "/v1/zones/{zone}", None, 200, ("operator", "reviewer")),
    ("GET", "/v1/zones/{zone}/versions", None, 200, ("operator", "reviewer")),
    ("GET", "/v1/zones/{zone}/exemptions", None, 200, ("operator", "reviewer")),
    ("POST", "/v1/zones", feature(name="new"), 201, ("operator",)),
    ("PATCH", "/v1/zones/{zone}", {"properties": {"name": "renamed"}}, 200, ("operator",)),
    ("PUT", "/v1/zones/{zone}", feature(square(8.6, 47.4), name="replaced"), 200, ("operator",)),
    ("DELETE", "/v1/zones/{zone}", None, 200, ("operator",)),
    (
        "POST",
        "/v1/zones/{zone}/exemptions",
        {"serial": "S2", "valid_from": "2026-06-03T16:00:00Z", "valid_until": "2026-06-04T00:00Z"},
        201,
        ("operator",),
    ),
    ("DELETE", "/v1/zones/{zone}/exemptions/{exemption}", None, 200, ("operator",)),
    ("POST", "/v1/keys", {"role": "reviewer", "name": "extra"}, 201, ()),
    ("GET", "/v1/audit", None, 200, ("reviewer",)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "allowed"),
    ENDPOINTS,
    ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS],
)
async def test_roles_per_endpoint(client, headers, role, method, path, body, status, allowed):
    ids = await _setup(client, headers)
    url = path.format(**ids)
    r = await client.request(method, url, json=body, headers=headers[role])
    if role == "admin" or role in allowed:
        assert r.status_code == status, r.text
        return
    problem = assert_problem(r, 403, detail=repr(role))
    assert "admin" in problem["detail"]
    # a refused write changed nothing
    zone = await client.get(f"/v1/zones/{ids['zone']}", headers=headers["admin"])
    assert zone.json()["properties"]["version"] == 1
    assert zone.json()["properties"]["name"] == "target"
    exemptions = await client.get(f"/v1/zones/{ids['zone']}/exemptions", headers=headers["admin"])
    assert [e["revoked_at"] for e in exemptions.json()["exemptions"]] == [None]


UNAUTHENTICATED = [
    pytest.param({}, "send an API key", id="no-key"),
    pytest.param({"Authorization": "Bearer sg_not-a-key"}, "unknown", id="unknown-key"),
    pytest.param({"Authorization": "Bearer "}, "send an API key", id="empty-key"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, "send an API key", id="basic-auth"),
]


@pytest.mark.parametrize(("auth", "detail"), UNAUTHENTICATED)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/zones"), ("POST", "/v1/zones"), ("POST", "/v1/keys"), ("GET", "/v1/audit")],
)
async def test_missing_or_unknown_key_is_401(client, headers, auth, detail, method, path):
    body = feature() if method == "POST" else None
    r = await client.request(method, path, json=body, headers=auth)
    assert_problem(r, 401, detail=detail)
    assert r.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/v1/zones", headers=headers["admin"])).json()["features"] == []


async def test_health_needs_no_key(client):
    assert (await client.get("/healthz")).status_code == 200


# ----------------------------------------------------------------------------------------- keys


@pytest.mark.parametrize("role", ROLES)
async def test_issued_key_works_once_shown(client, headers, connection, role):
    r = await client.post(
        "/v1/keys", json={"role": role, "name": f"new {role}"}, headers=headers["admin"]
    )
    assert r.status_code == 201, r.text
    issued = r.json()
    secret = issued["key"]
    assert secret.startswith("sg_")
    assert len(secret) > 40
    assert issued == {"id": issued["id"], "name": f"new {role}", "role": role, "key": secret}
    uuid.UUID(issued["id"])

    auth = {"Authorization": f"Bearer {secret}"}
    expected = {"admin": 200, "operator": 200, "reviewer": 200, "integrator": 403}[role]
    assert (await client.get("/v1/zones", headers=auth)).status_code == expected
    audit = await client.get("/v1/audit", headers=auth)
    assert audit.status_code == (200 if role in ("admin", "reviewer") else 403)

    # only its hash is kept: the secret appears in no stored row, nor in the audit log
    stored = await connection.execute(
        text("SELECT count(*) FROM api_keys WHERE key_hash = :s OR prefix = :s OR name = :s"),
        {"s": secret},
    )
    assert stored.scalar_one() == 0
    log = await client.get("/v1/audit", headers=headers["admin"])
    assert secret not in log.text


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        pytest.param({"role": "root", "name": "x"}, "/role", id="bad-role"),
        pytest.param({"role": "admin"}, "/name", id="no-name"),
        pytest.param({"role": "admin", "name": ""}, "/name", id="empty-name"),
    ],
)
async def test_bad_key_request_is_422(client, headers, body, pointer):
    r = await client.post("/v1/keys", json=body, headers=headers["admin"])
    assert_problem(r, 422, pointer)


# ---------------------------------------------------------------------------------------- audit


async def _audit(client: httpx.AsyncClient, headers: dict[str, dict[str, str]], **params: Any):
    r = await client.get("/v1/audit", params=params, headers=headers["reviewer"])
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def test_every_write_is_audited(client, headers):
    op = headers["operator"]
    key = (
        await client.post(
            "/v1/keys", json={"role": "operator", "name": "k"}, headers=headers["admin"]
        )
    ).json()
    v1 = await create_zone(client, headers, feature(name="v1"))
    zone_url = f"/v1/zones/{v1['id']}"
    v2 = (await client.patch(zone_url, json={"properties": {"name": "v2"}}, headers=op)).json()
    v3 = (await client.put(zone_url, json=feature(name="v3"), headers=op)).json()
    granted = (
        await client.post(
            f"{zone_url}/exemptions",
            json={
                "serial": "S1",
                "valid_from": "2026-06-03T16:00:00Z",
                "valid_until": "2026-06-04T00:00:00Z",
            },
            headers=op,
        )
    ).json()
    revoked = (await client.delete(f"{zone_url}/exemptions/{granted['id']}", headers=op)).json()
    archived = (await client.delete(zone_url, headers=op)).json()
    # neither no-ops nor refused writes leave a trace
    await client.delete(zone_url, headers=op)
    await client.delete(f"{zone_url}/exemptions/{granted['id']}", headers=op)
    await client.patch(zone_url, json={"properties": {"name": "late"}}, headers=op)
    await client.post("/v1/zones", json=feature(name=""), headers=op)
    await client.post("/v1/zones", json=feature(name="nope"), headers=headers["reviewer"])

    entries = await _audit(client, headers)
    summary = [(e["key_name"], e["action"], e["object_type"], e["object_id"]) for e in entries]
    zone_id, exemption_id = v1["id"], granted["id"]
    assert summary == [
        ("test admin", "create", "api_key", key["id"]),
        ("test operator", "create", "zone", zone_id),
        ("test operator", "update", "zone", zone_id),
        ("test operator", "replace", "zone", zone_id),
        ("test operator", "create", "exemption", exemption_id),
        ("test operator", "revoke", "exemption", exemption_id),
        ("test operator", "delete", "zone", zone_id),
    ]
    before_after = [(e["before"], e["after"]) for e in entries]
    assert before_after == [
        (None, {"id": key["id"], "name": "k", "role": "operator"}),
        (None, v1),
        (v1, v2),
        (v2, v3),
        (None, granted),
        (granted, revoked),
        (v3, archived),
    ]
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids)
    assert all(e["key_id"] and e["at"].endswith("Z") for e in entries)
    assert len({e["key_id"] for e in entries}) == 2

    zone_entries = await _audit(client, headers, object_type="zone", object_id=zone_id)
    assert [e["action"] for e in zone_entries] == ["create", "update", "replace", "delete"]
    assert await _audit(client, headers, object_type="exemption", object_id="nope") == []
    assert await _audit(client, headers, since="2999-01-01T00:00:00Z") == []
    assert len(await _audit(client, headers, until="2999-01-01T00:00:00Z")) == 7


async def test_audit_pages_through_everything_once(client, headers):
    for i in range(5):
        await create_zone(client, headers, feature(name=f"z{i}"))
    seen: list[int] = []
    url: str | None = "/v1/audit?limit=2"
    while url:
        r = await client.get(url, headers=headers["admin"])
        assert r.status_code == 200, r.text
        seen += [e["id"] for e in r.json()["entries"]]
        url = r.json()["next"]
    assert len(seen) == 5
    assert seen == sorted(set(seen))
    r = await client.get("/v1/audit", params={"limit": 0}, headers=headers["admin"])
    assert len(r.json()["entries"]) == 1


async def test_audit_times_need_an_offset(client, headers):
    r = await client.get(
        "/v1/audit", params={"since": "2026-06-03T10:00:00"}, headers=headers["reviewer"]
    )
    assert_problem(r, 422, "query:since")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/v1/audit", 405),
        ("PATCH", "/v1/audit", 405),
        ("DELETE", "/v1/audit", 405),
        ("POST", "/v1/audit", 405),
        ("DELETE", "/v1/audit/1", 404),
    ],
)
async def test_audit_log_has_no_edit_endpoint(client, headers, method, path, status):
    await create_zone(client, headers, feature())
    r = await client.request(method, path, json={}, headers=headers["admin"])
    assert_problem(r, status)
    assert len(await _audit(client, headers)) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'tampered'",
        "UPDATE audit_log SET after = NULL WHERE object_type = 'zone'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_audit_log_rows_cannot_be_changed_in_the_database(
    client, headers, connection, statement
):
    await create_zone(client, headers, feature(name="audited"))
    before = await _audit(client, headers)
    savepoint = await connection.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        await connection.execute(text(statement))
    await savepoint.rollback()
    assert await _audit(client, headers) == before
    assert [e["action"] for e in before] == ["create"]


async def test_a_key_revoked_in_the_database_stops_working_once_the_cache_expires(app):
    now = [0.0]
    cache = CallerCache(ttl_s=10.0, clock=lambda: now[0])
    async with app.state.db.session() as session:
        issued = await create_key(session, role="integrator", name="soon revoked")
    assert await cache.find(app.state.db.session, issued.secret) == issued.caller
    async with app.state.db.session() as session:
        revoke = text("UPDATE api_keys SET revoked_at = now() WHERE id = :id")
        await session.execute(revoke, {"id": issued.caller.key_id})
    now[0] = 9.0
    assert await cache.find(app.state.db.session, issued.secret) == issued.caller
    now[0] = 10.5
    assert await cache.find(app.state.db.session, issued.secret) is None
