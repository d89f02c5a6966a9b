"""Load the demo fixtures (fixtures/demo.json) through the same code paths as the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.api.schemas.districts import DistrictFeatureIn
from skyguard.api.schemas.districts import spec_from_feature as district_spec
from skyguard.api.schemas.drones import DroneIn, spec_from_body
from skyguard.api.schemas.zones import ExemptionIn, ZoneFeatureIn, spec_from_feature
from skyguard.store import districts, drones, exemptions, zones
from skyguard.store.keys import Caller
from skyguard.store.tables import District, Drone, Zone

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo.json"
FIXTURES = Caller(key_id=None, name="fixtures", role="admin")


def read_fixtures(path: Path = DEMO) -> dict[str, Any]:
    """The parsed fixture file."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def load_fixtures(session: AsyncSession, data: dict[str, Any]) -> dict[str, int]:
    """Create what the fixtures hold and is not there yet (by name; drones by serial)."""
    counts = {"zones": 0, "exemptions": 0, "drones": 0}
    existing = set((await session.scalars(select(Zone.name))).all())
    zone_ids: dict[str, Any] = {}
    for raw in data.get("zones", []):
        feature = ZoneFeatureIn.model_validate(raw)
        name = feature.properties.name
        if name in existing:
            continue
        created = await zones.create_zone(session, FIXTURES, spec_from_feature(feature, 100_000))
        zone_ids[name] = created["id"]
        counts["zones"] += 1
    for raw in data.get("exemptions", []):
        if raw["zone"] not in zone_ids:
            continue
        body = ExemptionIn.model_validate(raw)
        await exemptions.grant(session, FIXTURES, zone_ids[raw["zone"]], body.model_dump())
        counts["exemptions"] += 1
    known = set((await session.scalars(select(Drone.serial))).all())
    for raw in data.get("drones", []):
        if raw["serial"] in known:
            continue
        await drones.register_drone(session, FIXTURES, spec_from_body(DroneIn.model_validate(raw)))
        counts["drones"] += 1
    counts["districts"] = await _load_districts(session, data.get("districts", []))
    return counts


async def _load_districts(session: AsyncSession, raws: list[Any]) -> int:
    """Create the districts not there yet (by name), as POST /v1/districts would."""
    existing = set((await session.scalars(select(District.name))).all())
    created = 0
    for raw in raws:
        feature = DistrictFeatureIn.model_validate(raw)
        if feature.properties.name in existing:
            continue
        await districts.create_district(session, FIXTURES, district_spec(feature, 100_000))
        created += 1
    return created
