"""Webhooks against real PostGIS and a real HTTP receiver on 127.0.0.1: signed per Standard
Webhooks, retried with backoff, recorded attempt by attempt, refused for private addresses."""

import base64
import ipaddress
import json
from datetime import UTC, datetime, timedelta
from typing import get_args

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from skyguard.alerts.delivery import DeliveryPolicy, send_due
from skyguard.alerts.destinations import AllowList, check_destination, is_public
from skyguard.alerts.webhooks import DEFAULT_EVENTS
from skyguard.api.webhooks import EventType
from skyguard.errors import InvalidInput
from skyguard.store.tables import WEBHOOK_EVENTS
from tests.alerts.receiver import Receiver, free_port

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
SQUARE = [[[8.50, 47.30], [8.51, 47.30], [8.51, 47.31], [8.50, 47.31], [8.50, 47.30]]]


@pytest.fixture(scope="module")
def settings(settings):
    """The test settings with the receiver's address on the allow-list."""
    return settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1"})


@pytest.fixture
def policy(settings):
    return DeliveryPolicy.from_settings(settings)


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def receiver():
    server = Receiver(free_port())
    yield server
    server.stop()


async def register(client, headers, url, **body):
    r = await client.post("/v1/webhooks", json={"url": url, **body}, headers=headers["operator"])
    assert r.status_code == 201, r.text
    return r.json()


async def open_alert(client, headers, serial="SG-W", draw=True):
    """Fly into a zone (drawn first): one alert.opened event (and an alert.updated)."""
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": SQUARE},
        "properties": {"name": "webhook zone"},
    }
    if draw:
        r = await client.post("/v1/zones", json=feature, headers=headers["operator"])
        assert r.status_code == 201, r.text
    reports = [
        {"serial": serial, "time": (T0 + timedelta(seconds=s)).isoformat(), "lon": lon,
         "lat": 47.305, "height_m": 50.0}
        for s, lon in ((0, 8.49), (10, 8.505), (11, 8.5051))
    ]  # fmt: skip
    r = await client.post("/v1/telemetry", json={"reports": reports}, headers=headers["integrator"])
    assert r.status_code == 200, r.text
    [alert] = r.json()["alerts"]
    return alert


async def deliveries(client, headers, webhook_id, **params):
    r = await client.get(
        f"/v1/webhooks/{webhook_id}/deliveries", params=params, headers=headers["operator"]
    )
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


async def test_register_shows_the_secret_once(client, headers):
    created = await register(client, headers, "http://127.0.0.1:9/in")
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    assert created["events"] == list(DEFAULT_EVENTS)
    assert "alert.updated" not in created["events"] and created["active"] is True
    r = await client.get(f"/v1/webhooks/{created['id']}", headers=headers["operator"])
    assert r.json() == {k: v for k, v in created.items() if k != "secret"}
    listed = (await client.get("/v1/webhooks", headers=headers["admin"])).json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert all("secret" not in w for w in listed)


@pytest.mark.parametrize("role", ["integrator", "reviewer"])
async def test_only_operators_and_admins_manage_webhooks(client, headers, role):
    r = await client.post("/v1/webhooks", json={"url": "http://127.0.0.1/"}, headers=headers[role])
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/webhooks", headers=headers[role])).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.2:8080/",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "ftp://example.com/",
        "not a url",
    ],
)
async def test_private_and_non_http_urls_are_refused(client, headers, url):
    r = await client.post("/v1/webhooks", json={"url": url}, headers=headers["operator"])
    assert r.status_code == 422, r.text
    assert r.json()["pointer"] == "/url"


async def test_unknown_event_types_are_refused(client, headers):
    body = {"url": "http://127.0.0.1/", "events": ["alert.opened", "zone.created"]}
    r = await client.post("/v1/webhooks", json=body, headers=headers["operator"])
    assert r.status_code == 422
    assert r.json()["pointer"] == "/events/1"
    assert set(get_args(EventType)) == set(WEBHOOK_EVENTS)


async def test_the_allow_list_and_public_ranges():
    with pytest.raises(InvalidInput) as refused:
        await check_destination("http://127.0.0.1:8080/x", AllowList(), 1.0)
    assert refused.value.pointer == "/url" and "127.0.0.1" in refused.value.detail
    allow = AllowList.parse(" 10.8.0.0/16, Receiver.Internal ,")
    assert allow.permits("x", ipaddress.ip_address("10.8.3.4"))
    assert not allow.permits("x", ipaddress.ip_address("10.9.3.4"))
    assert allow.permits("receiver.internal.", ipaddress.ip_address("192.168.1.1"))
    assert is_public(ipaddress.ip_address("8.8.8.8"))
    assert not is_public(ipaddress.ip_address("::ffff:127.0.0.1"))
    target = await check_destination("https://[2001:4860:4860::8888]:8443/h", AllowList(), 1.0)
    assert str(target.request_url()) == "https://[2001:4860:4860::8888]:8443/h"


async def test_a_delivery_is_signed_per_standard_webhooks(
    client, headers, app, policy, http, receiver
):
    receiver.start()
    hook = await register(client, headers, receiver.url)
    alert = await open_alert(client, headers)
    [attempt] = await send_due(app.state.db, policy, http)
    assert attempt.delivered and attempt.status_code == 204
    [(body, sent)] = receiver.requests
    message = Webhook(hook["secret"]).verify(body, sent)
    assert message["type"] == "alert.opened"
    assert message["data"]["id"] == alert["id"] and message["data"]["status"] == "open"
    [delivery] = await deliveries(client, headers, hook["id"])
    assert sent["webhook-id"] == delivery["id"] and sent["host"] == f"127.0.0.1:{receiver.port}"
    assert delivery["status"] == "delivered" and delivery["event_type"] == "alert.opened"
    assert [(a["status_code"], a["error"]) for a in delivery["attempts"]] == [(204, None)]
    assert await send_due(app.state.db, policy, http) == []


async def test_a_down_receiver_is_retried_with_backoff_until_it_is_back(
    client, headers, app, policy, http, receiver
):
    hook = await register(client, headers, receiver.url)
    await open_alert(client, headers)
    now = datetime.now(UTC)
    [failed] = await send_due(app.state.db, policy, http, now=now)
    assert not failed.delivered and failed.status_code is None
    assert "ConnectError" in str(failed.error)
    [pending] = await deliveries(client, headers, hook["id"])
    assert pending["status"] == "pending" and len(pending["attempts"]) == 1
    assert pending["attempts"][0]["error"] == failed.error
    retry_at = datetime.fromisoformat(pending["next_attempt_at"])
    assert retry_at == now + timedelta(seconds=5)
    assert await send_due(app.state.db, policy, http, now=now + timedelta(seconds=4)) == []
    receiver.start()
    [retried] = await send_due(app.state.db, policy, http, now=retry_at + timedelta(seconds=1))
    assert retried.delivered
    [(body, sent)] = receiver.requests
    assert sent["webhook-id"] == pending["id"]  # the same message id as the failed attempt
    assert Webhook(hook["secret"]).verify(body, sent)["type"] == "alert.opened"
    [done] = await deliveries(client, headers, hook["id"])
    assert done["status"] == "delivered" and done["next_attempt_at"] is None
    assert [a["status_code"] for a in done["attempts"]] == [None, 204]


async def test_non_2xx_retries_then_fails_after_max_attempts(
    client, headers, app, settings, http, receiver
):
    receiver.statuses = [500, 503, 410]
    receiver.start()
    policy = DeliveryPolicy.from_settings(settings.model_copy(update={"webhook_max_attempts": 3}))
    hook = await register(client, headers, receiver.url)
    await open_alert(client, headers)
    now = datetime.now(UTC)
    for after_s in (0, 6, 40):  # backoff 5 s, then 30 s
        at = now + timedelta(seconds=after_s)
        [attempt] = await send_due(app.state.db, policy, http, now=at)
        assert not attempt.delivered and attempt.error is None
    assert [r[1]["webhook-id"] for r in receiver.requests] == [
        receiver.requests[0][1]["webhook-id"]
    ] * 3
    for body, sent in receiver.requests:
        Webhook(hook["secret"]).verify(body, sent)
    [delivery] = await deliveries(client, headers, hook["id"], status="failed")
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 410]
    assert delivery["next_attempt_at"] is None
    assert await send_due(app.state.db, policy, http, now=now + timedelta(days=1)) == []


async def test_the_address_is_checked_again_at_delivery(client, headers, app, http, receiver):
    receiver.start()
    hook = await register(client, headers, receiver.url)
    await open_alert(client, headers)
    strict = DeliveryPolicy(allow=AllowList())  # e.g. the name now resolves somewhere private
    [attempt] = await send_due(app.state.db, strict, http)
    assert attempt.status_code is None and "resolves to 127.0.0.1" in str(attempt.error)
    assert receiver.requests == []
    [delivery] = await deliveries(client, headers, hook["id"])
    assert delivery["status"] == "pending"


async def test_only_wanted_events_fan_out(client, headers, app):
    every = await register(client, headers, "http://127.0.0.1:9/a", events=list(WEBHOOK_EVENTS))
    closes = await register(client, headers, "http://127.0.0.1:9/b", events=["alert.closed"])
    default = await register(client, headers, "http://127.0.0.1:9/c")
    await open_alert(client, headers)
    kinds = [d["event_type"] for d in await deliveries(client, headers, every["id"])]
    assert kinds == ["alert.updated", "alert.opened"]  # newest first
    assert await deliveries(client, headers, closes["id"]) == []
    assert [d["event_type"] for d in await deliveries(client, headers, default["id"])] == [
        "alert.opened"
    ]


async def test_disabling_stops_fan_out_and_cancels_pending(client, headers, app, policy, http):
    hook = await register(client, headers, "http://127.0.0.1:9/in")
    await open_alert(client, headers)
    r = await client.delete(f"/v1/webhooks/{hook['id']}", headers=headers["operator"])
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["disabled_at"]
    [cancelled] = await deliveries(client, headers, hook["id"])
    assert cancelled["status"] == "cancelled" and cancelled["next_attempt_at"] is None
    await open_alert(client, headers, serial="SG-X", draw=False)
    assert len(await deliveries(client, headers, hook["id"])) == 1
    assert await send_due(app.state.db, policy, http) == []
    again = await client.delete(f"/v1/webhooks/{hook['id']}", headers=headers["operator"])
    assert again.json() == r.json()
    missing = await client.get(
        f"/v1/webhooks/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=headers["operator"]
    )
    assert missing.status_code == 404


async def test_deliveries_page_by_event(client, headers):
    hook = await register(client, headers, "http://127.0.0.1:9/in", events=list(WEBHOOK_EVENTS))
    await open_alert(client, headers)
    r = await client.get(
        f"/v1/webhooks/{hook['id']}/deliveries", params={"limit": 1}, headers=headers["operator"]
    )
    first = r.json()
    assert len(first["deliveries"]) == 1 and first["next"]
    second = (await client.get(first["next"], headers=headers["operator"])).json()
    assert [d["event_type"] for d in first["deliveries"] + second["deliveries"]] == [
        "alert.updated",
        "alert.opened",
    ]
    assert second["next"] is None
    assert json.loads(json.dumps(second))  # plain JSON all the way down
