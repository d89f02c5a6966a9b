"""Several workers sending at once: each delivery goes out once. Claims are only contested across
connections on committed rows, so this runs in a database of its own where writes commit."""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from skyguard.alerts.delivery import DeliveryPolicy, deliver_forever, send_due
from skyguard.alerts.destinations import AllowList
from skyguard.app import create_app
from skyguard.settings import Settings, to_psycopg_url
from skyguard.store.db import Database
from skyguard.store.embedded import EmbeddedPostgres
from skyguard.store.keys import create_key
from skyguard.store.migrate import upgrade
from skyguard.store.webhooks import Attempt
from tests.alerts.receiver import Receiver, free_port
from tests.conftest import ROOT

SQUARE = [[[8.50, 47.30], [8.51, 47.30], [8.51, 47.31], [8.50, 47.31], [8.50, 47.30]]]


@pytest.fixture
def committed_url(database_url: str) -> Iterator[str]:
    """A migrated database of this test's own, dropped at its end."""
    if os.environ.get("SKYGUARD_TEST_DATABASE_URL"):
        pytest.skip("needs the embedded cluster to create a database of its own")
    cluster = EmbeddedPostgres(ROOT / ".skyguard")
    name = f"skyguard_test_webhooks_{os.getpid()}"
    url = cluster.ensure_database(name, fresh=True)
    upgrade(url)
    yield to_psycopg_url(url)
    cluster.drop_database(name)


async def make_events(url: str, hook_url: str, drones: int) -> None:
    """Through the API, committed: a webhook, a zone, then drones first seen inside it."""
    settings = Settings(
        database_url=url,
        run_background_tasks=False,
        webhook_allow_hosts="127.0.0.1",
        freeze_heap=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.db.session() as session:
            operator = await create_key(session, role="operator", name="workers test")
            integrator = await create_key(session, role="integrator", name="workers test")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://skyguard.test") as c:
            op = {"Authorization": f"Bearer {operator.secret}"}
            r = await c.post("/v1/webhooks", json={"url": hook_url}, headers=op)
            assert r.status_code == 201, r.text
            zone = {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": SQUARE},
                "properties": {"name": "workers zone"},
            }
            r = await c.post("/v1/zones", json=zone, headers=op)
            assert r.status_code == 201, r.text
            t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
            reports = [
                {"serial": f"W-{n}", "time": t0.isoformat(), "lon": 8.505, "lat": 47.305}
                for n in range(drones)
            ]
            r = await c.post(
                "/v1/telemetry",
                json={"reports": reports},
                headers={"Authorization": f"Bearer {integrator.secret}"},
            )
            assert len(r.json()["alerts"]) == drones, r.text


async def drain(db: Database, policy: DeliveryPolicy, http: httpx.AsyncClient) -> list[Attempt]:
    """Send until nothing is due for this worker."""
    sent: list[Attempt] = []
    while attempts := await send_due(db, policy, http):
        sent.extend(attempts)
    return sent


@pytest.fixture
async def workers(committed_url: str) -> AsyncIterator[list[Database]]:
    """Three workers, each with its own engine and connections."""
    dbs = [Database.connect(committed_url, pool_size=2) for _ in range(3)]
    yield dbs
    for db in dbs:
        await db.dispose()


async def test_concurrent_workers_send_each_delivery_once(committed_url, workers):
    receiver = Receiver(free_port(), delay_s=0.05)
    receiver.start()
    try:
        await make_events(committed_url, receiver.url, drones=12)
        policy = DeliveryPolicy(allow=AllowList.parse("127.0.0.1"), batch_size=2)
        async with httpx.AsyncClient() as http:
            sent = await asyncio.gather(*(drain(db, policy, http) for db in workers))
    finally:
        receiver.stop()
    ids = [headers["webhook-id"] for _, headers in receiver.requests]
    assert len(ids) == len(set(ids)) == 12
    assert all(a.delivered for attempts in sent for a in attempts)
    assert all(attempts for attempts in sent)  # every worker took a share
    async with workers[0].session() as session:
        rows = await session.execute(
            text("SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
        )
        assert [tuple(r) for r in rows] == [("delivered", 12)]


async def test_the_background_senders_deliver_on_their_own(committed_url, workers):
    receiver = Receiver(free_port())
    receiver.start()
    settings = Settings(
        database_url=committed_url,
        webhook_allow_hosts="127.0.0.1",
        webhook_poll_s=0.05,
        freeze_heap=False,
    )
    undelivered = text("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'")
    try:
        await make_events(committed_url, receiver.url, drones=5)
        senders = asyncio.create_task(deliver_forever(workers[0], settings))
        try:
            async with asyncio.timeout(10), workers[1].session() as session:
                while await session.scalar(undelivered):
                    await session.rollback()  # a fresh snapshot each look
                    await asyncio.sleep(0.05)
        finally:
            senders.cancel()
            await asyncio.gather(senders, return_exceptions=True)
    finally:
        receiver.stop()
    assert senders.cancelled()
    ids = {headers["webhook-id"] for _, headers in receiver.requests}
    assert len(ids) == len(receiver.requests) == 5
