"""Districts: the areas per-district statistics count by. Operators draw them; reviewers read."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from skyguard.api.deps import OperatorKey, ReaderKey, SessionDep, SettingsDep
from skyguard.api.schemas.districts import DistrictFeatureIn, spec_from_feature
from skyguard.store import districts

router = APIRouter(prefix="/v1/districts", tags=["districts"])


@router.post("", status_code=201, summary="Draw a district")
async def create_district(
    body: DistrictFeatureIn,
    caller: OperatorKey,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    """Store a district given as a GeoJSON Feature (Polygon or MultiPolygon, the zones' geometry
    rules); `properties.name` is unique (409 on a duplicate), `code` and `description` optional."""
    spec = spec_from_feature(body, settings.max_zone_vertices)
    feature = await districts.create_district(session, caller, spec)
    response.headers["Location"] = f"/v1/districts/{feature['id']}"
    return feature


@router.get("", summary="List districts as a FeatureCollection")
async def list_districts(caller: ReaderKey, session: SessionDep) -> dict[str, Any]:
    """Every district, by name."""
    rows = await districts.list_districts(session)
    return {"type": "FeatureCollection", "features": [districts.feature_of(r) for r in rows]}


@router.get("/{district_id}", summary="One district")
async def get_district(
    district_id: uuid.UUID, caller: ReaderKey, session: SessionDep
) -> dict[str, Any]:
    """The district as a GeoJSON Feature."""
    return districts.feature_of(await districts.load_district(session, district_id))


@router.delete("/{district_id}", status_code=204, summary="Delete a district")
async def delete_district(
    district_id: uuid.UUID, caller: OperatorKey, session: SessionDep
) -> Response:
    """Delete it; the audit log keeps what it was."""
    await districts.delete_district(session, caller, district_id)
    return Response(status_code=204)
