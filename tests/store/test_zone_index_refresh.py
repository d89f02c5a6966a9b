"""A worker's zone index after an edit: the edited zone is read again, the others keep their
parsed shapes, and exemptions (which change no zone version) are always read afresh."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.store.zone_index import ZoneIndexCache
from tests.api.test_alerting import T0, draw


async def refreshed(cache: ZoneIndexCache, connection):
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        return await cache.current(session)


async def test_a_refresh_parses_only_the_edited_zone_and_reads_every_exemption(
    client, headers, connection
):
    kept = uuid.UUID(await draw(client, headers, name="kept"))
    edited = uuid.UUID(await draw(client, headers, name="edited", ceiling_m=40))
    archived = uuid.UUID(await draw(client, headers, name="archived"))
    cache = ZoneIndexCache()
    before = await refreshed(cache, connection)
    r = await client.patch(
        f"/v1/zones/{edited}", json={"properties": {"ceiling_m": 120}}, headers=headers["operator"]
    )
    assert r.status_code == 200, r.text
    r = await client.delete(f"/v1/zones/{archived}", headers=headers["operator"])
    assert r.status_code == 200, r.text
    window = {
        "serial": "SG-EXEMPT",
        "valid_from": (T0 - timedelta(hours=1)).isoformat(),
        "valid_until": (T0 + timedelta(hours=1)).isoformat(),
    }
    r = await client.post(f"/v1/zones/{kept}/exemptions", json=window, headers=headers["operator"])
    assert r.status_code == 201, r.text

    after = await refreshed(cache, connection)

    def zone(index, zone_id):
        position = index.position(zone_id)
        assert position is not None
        return index.zones[position]

    assert after.position(archived) is None
    assert zone(after, kept).spec is zone(before, kept).spec
    assert [e.serial for e in zone(after, kept).exemptions] == ["SG-EXEMPT"]
    assert zone(after, edited).version == 2
    assert zone(after, edited).spec.ceiling_m == 120
    assert zone(before, edited).spec.ceiling_m == 40
