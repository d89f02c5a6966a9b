"""Exemptions (authorisations) in PostGIS: granted, listed and revoked, never deleted."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import InvalidInput, NotFound
from skyguard.store import audit, revision
from skyguard.store.keys import Caller
from skyguard.store.tables import Exemption
from skyguard.store.zones import iso_utc, load_live_zone, load_zone


def exemption_json(row: Exemption) -> dict[str, Any]:
    """The exemption as the API returns it."""
    return {
        "id": str(row.id),
        "zone_id": str(row.zone_id),
        "serial": row.serial,
        "valid_from": iso_utc(row.valid_from),
        "valid_until": iso_utc(row.valid_until),
        "floor_m": row.floor_m,
        "ceiling_m": row.ceiling_m,
        "reason": row.reason,
        "created_at": iso_utc(row.created_at),
        "revoked_at": iso_utc(row.revoked_at),
    }


def check_exemption(
    valid_from: datetime, valid_until: datetime, floor_m: float | None, ceiling_m: float | None
) -> None:
    """Refuse a window or band that cannot make sense."""
    if valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from", "/valid_until")
    if floor_m is not None and ceiling_m is not None and ceiling_m <= floor_m:
        raise InvalidInput("ceiling_m must be above floor_m", "/ceiling_m")


async def grant(
    session: AsyncSession, caller: Caller, zone_id: uuid.UUID, fields: dict[str, Any]
) -> dict[str, Any]:
    """Grant an exemption in a zone that is not archived."""
    await load_live_zone(session, zone_id)
    check_exemption(
        fields["valid_from"], fields["valid_until"], fields.get("floor_m"), fields.get("ceiling_m")
    )
    row = Exemption(id=uuid.uuid4(), zone_id=zone_id, created_at=datetime.now(UTC), **fields)
    session.add(row)
    await session.flush()
    await revision.bump(session)
    body = exemption_json(row)
    await audit.record(session, caller, "create", "exemption", str(row.id), after=body)
    return body


async def list_exemptions(session: AsyncSession, zone_id: uuid.UUID) -> Sequence[Exemption]:
    """Every exemption of the zone, revoked ones included, newest window first."""
    await load_zone(session, zone_id)
    rows = await session.scalars(
        select(Exemption)
        .where(Exemption.zone_id == zone_id)
        .order_by(Exemption.valid_from.desc(), Exemption.id)
    )
    return rows.all()


async def revoke(
    session: AsyncSession, caller: Caller, zone_id: uuid.UUID, exemption_id: uuid.UUID
) -> dict[str, Any]:
    """Revoke from now on; the row stays for the record. Revoking twice changes nothing."""
    row = await session.scalar(
        select(Exemption)
        .where(Exemption.id == exemption_id, Exemption.zone_id == zone_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"no exemption {exemption_id} in zone {zone_id}")
    if row.revoked_at is None:
        before = exemption_json(row)
        row.revoked_at = datetime.now(UTC)
        await session.flush()
        await revision.bump(session)
        after = exemption_json(row)
        await audit.record(
            session, caller, "revoke", "exemption", str(row.id), before=before, after=after
        )
    return exemption_json(row)
