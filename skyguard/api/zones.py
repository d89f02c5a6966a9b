"""Zones and their exemptions: operators draw and edit; reviewers read."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from skyguard.api.deps import OperatorKey, ReaderKey, SessionDep, SettingsDep
from skyguard.api.paging import (
    clamp_limit,
    decode_time_id_cursor,
    encode_cursor,
    next_link,
    split_page,
)
from skyguard.api.schemas.zones import (
    Category,
    ExemptionIn,
    ZoneFeatureIn,
    ZonePatch,
    spec_from_feature,
    spec_from_patch,
)
from skyguard.errors import InvalidInput
from skyguard.store import alerts, exemptions, zones

router = APIRouter(prefix="/v1/zones", tags=["zones"])


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    """west,south,east,north in degrees; west > east means the box crosses the antimeridian."""
    if raw is None:
        return None
    try:
        west, south, east, north = (float(v) for v in raw.split(","))
    except ValueError:
        raise InvalidInput(
            "bbox must be four numbers: west,south,east,north", "query:bbox"
        ) from None
    if not all(-180 <= v <= 180 for v in (west, east)) or not all(
        -90 <= v <= 90 for v in (south, north)
    ):
        raise InvalidInput("bbox is out of range (lon -180..180, lat -90..90)", "query:bbox")
    if south > north:
        raise InvalidInput("bbox south must not be north of north", "query:bbox")
    return west, south, east, north


@router.post("", status_code=201, summary="Draw a zone")
async def create_zone(
    body: ZoneFeatureIn,
    caller: OperatorKey,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    """Store a zone given as a GeoJSON Feature. A point on the boundary counts as inside."""
    spec = spec_from_feature(body, settings.max_zone_vertices)
    feature = await zones.create_zone(session, caller, spec)
    response.headers["Location"] = f"/v1/zones/{feature['id']}"
    return feature


@router.get("", summary="List zones as a FeatureCollection")
async def list_zones(
    request: Request,
    caller: ReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north (west > east: crosses 180°)")
    ] = None,
    active_at: Annotated[
        AwareDatetime | None, Query(description="RFC 3339: only zones in force then.")
    ] = None,
    category: Category | None = None,
    include_archived: bool = False,
    limit: Annotated[int | None, Query(description="Page size, clamped to the maximum.")] = None,
    cursor: Annotated[str | None, Query(description="From a `next` link.")] = None,
) -> dict[str, Any]:
    """Zones filtered by box, time and category, in creation order, paged."""
    page_size = clamp_limit(limit, settings)
    query = zones.ZoneQuery(
        bbox=parse_bbox(bbox),
        active_at=active_at,
        category=category,
        include_archived=include_archived,
        after=decode_time_id_cursor(cursor),
        limit=page_size,
    )
    rows = await zones.list_zones(session, query)
    page, last = split_page(rows, page_size)
    link = next_link(request, encode_cursor(last.created_at, last.id) if last else None)
    return {
        "type": "FeatureCollection",
        "features": [zones.feature_of(r) for r in page],
        "next": link,
        "links": [{"rel": "next", "href": link}] if link else [],
    }


@router.get("/{zone_id}", summary="One zone")
async def get_zone(zone_id: uuid.UUID, caller: ReaderKey, session: SessionDep) -> dict[str, Any]:
    """The zone's current version; archived zones stay readable."""
    return zones.feature_of(await zones.load_zone(session, zone_id))


@router.put("/{zone_id}", summary="Replace a zone")
async def replace_zone(
    zone_id: uuid.UUID,
    body: ZoneFeatureIn,
    caller: OperatorKey,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Replace geometry and properties as a new version; the old version is kept."""
    spec = spec_from_feature(body, settings.max_zone_vertices)
    return await zones.update_zone(session, caller, zone_id, spec, "replace")


@router.patch("/{zone_id}", summary="Edit a zone")
async def patch_zone(
    zone_id: uuid.UUID,
    body: ZonePatch,
    caller: OperatorKey,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Change some properties and/or the geometry as a new version."""
    current = zones.spec_of(await zones.load_live_zone(session, zone_id, for_update=True))
    spec = spec_from_patch(current, body, settings.max_zone_vertices)
    return await zones.update_zone(session, caller, zone_id, spec, "update")


@router.delete("/{zone_id}", summary="Archive a zone")
async def delete_zone(
    zone_id: uuid.UUID, caller: OperatorKey, session: SessionDep
) -> dict[str, Any]:
    """Archive the zone: it stays readable with its versions, and is no longer in force."""
    return await zones.archive_zone(session, caller, zone_id)


@router.get("/{zone_id}/versions", summary="Every version of a zone")
async def list_versions(
    zone_id: uuid.UUID, caller: ReaderKey, session: SessionDep
) -> dict[str, Any]:
    """All versions, oldest first, each the Feature then in force with `recorded_at`."""
    return {"zone_id": str(zone_id), "versions": await zones.zone_versions(session, zone_id)}


@router.post("/{zone_id}/exemptions", status_code=201, summary="Grant an exemption")
async def grant_exemption(
    zone_id: uuid.UUID,
    body: ExemptionIn,
    caller: OperatorKey,
    session: SessionDep,
    response: Response,
) -> dict[str, Any]:
    """Let one drone fly in this zone within a time window (and optionally a band)."""
    granted = await exemptions.grant(session, caller, zone_id, body.model_dump())
    response.headers["Location"] = f"/v1/zones/{zone_id}/exemptions/{granted['id']}"
    return granted


@router.get("/{zone_id}/exemptions", summary="List a zone's exemptions")
async def list_exemptions(
    zone_id: uuid.UUID, caller: ReaderKey, session: SessionDep
) -> dict[str, Any]:
    """Every exemption of the zone, revoked ones included (with `revoked_at`)."""
    rows = await exemptions.list_exemptions(session, zone_id)
    return {"exemptions": [exemptions.exemption_json(r) for r in rows]}


@router.delete("/{zone_id}/exemptions/{exemption_id}", summary="Revoke an exemption")
async def revoke_exemption(
    zone_id: uuid.UUID, exemption_id: uuid.UUID, caller: OperatorKey, session: SessionDep
) -> dict[str, Any]:
    """Revoke it from now on; it stays listed with `revoked_at`."""
    return await exemptions.revoke(session, caller, zone_id, exemption_id)


@router.get("/{zone_id}/occupancy", summary="Drones inside a zone now")
async def zone_occupancy(
    zone_id: uuid.UUID, caller: ReaderKey, session: SessionDep
) -> dict[str, Any]:
    """Drones with an unclosed breach alert here: registration, owner, latest position."""
    return {"zone_id": str(zone_id), "drones": await alerts.zone_occupancy(session, zone_id)}
