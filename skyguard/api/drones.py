"""The drone registry: operators register drones and owners; the person-to-drone lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from skyguard.api.deps import DroneReaderKey, OperatorKey, SessionDep, SettingsDep
from skyguard.api.paging import clamp_limit, decode_cursor, encode_cursor, next_link, split_page
from skyguard.api.schemas.drones import (
    DroneIn,
    DroneList,
    DroneOut,
    DronePatch,
    changes_from_patch,
    spec_from_body,
)
from skyguard.api.zones import parse_bbox
from skyguard.store import alerts, drones, positions

router = APIRouter(prefix="/v1/drones", tags=["drones"])

OwnerFilter = Annotated[
    str | None,
    Query(
        max_length=300, description="Owner name contains this (any case), or id_number/phone is it."
    ),
]
OrganisationFilter = Annotated[
    str | None, Query(max_length=300, description="Owner organisation contains this (any case).")
]
TextFilter = Annotated[
    str | None,
    Query(
        max_length=300,
        description="Text (any case) in serial, model, registration id, notes, owner or org.",
    ),
]
RegisteredFilter = Annotated[
    bool | None, Query(description="true: registered; false: seen in telemetry only.")
]


@router.post("", status_code=201, summary="Register a drone", response_model=DroneOut)
async def register_drone(
    body: DroneIn, caller: OperatorKey, session: SessionDep, response: Response
) -> dict[str, Any]:
    """Register a drone (409 if it already is); one seen only in telemetry becomes registered."""
    drone = await drones.register_drone(session, caller, spec_from_body(body))
    response.headers["Location"] = f"/v1/drones/{quote(drone['serial'], safe='')}"
    return drone


@router.get("", summary="Search drones and their owners", response_model=DroneList)
async def list_drones(
    request: Request,
    caller: DroneReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    owner: OwnerFilter = None,
    organisation: OrganisationFilter = None,
    q: TextFilter = None,
    registered: RegisteredFilter = None,
    limit: Annotated[int | None, Query(description="Page size, clamped to the maximum.")] = None,
    cursor: Annotated[str | None, Query(description="From a `next` link.")] = None,
) -> dict[str, Any]:
    """Drones matching every filter given, each with its owner, ordered by serial, paged."""
    page_size = clamp_limit(limit, settings)
    query = drones.DroneQuery(
        owner=_blank_to_none(owner),
        organisation=_blank_to_none(organisation),
        text=_blank_to_none(q),
        registered=registered,
        after=decode_serial_cursor(cursor),
        limit=page_size,
    )
    rows = await drones.list_drones(session, query)
    page, last = split_page(rows, page_size)
    cursor_out = encode_cursor(last[0].serial) if last else None
    return {
        "drones": [drones.drone_json(drone, owner) for drone, owner in page],
        "next": next_link(request, cursor_out),
    }


def _blank_to_none(value: str | None) -> str | None:
    stripped = value.strip() if value is not None else None
    return stripped or None


def decode_serial_cursor(cursor: str | None) -> str | None:
    """The serial a drones cursor holds, or InvalidInput."""
    return decode_cursor(cursor, 1)[0] if cursor is not None else None


@router.get("/live", summary="The live view: drones seen in the last seconds")
async def live_drones(
    caller: DroneReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north (west > east: crosses 180°)")
    ] = None,
) -> dict[str, Any]:
    """Drones seen within SKYGUARD_LIVE_WINDOW_S: position, speed, registration, open alerts."""
    since = datetime.now(UTC) - timedelta(seconds=settings.live_window_s)
    rows = await positions.live_positions(session, since, parse_bbox(bbox))
    open_alerts = await alerts.open_alerts_by_serial(session, [r["serial"] for r in rows])
    return {
        "since": since.isoformat(),
        "drones": [
            {**r, "time": r["time"].isoformat(), "open_alerts": open_alerts.get(r["serial"], [])}
            for r in rows
        ],
    }


@router.get("/{serial}", summary="One drone and its owner", response_model=DroneOut)
async def get_drone(serial: str, caller: DroneReaderKey, session: SessionDep) -> dict[str, Any]:
    """The drone, registered or only seen in telemetry, with its owner (null if none known)."""
    return await drones.drone_body(session, serial)


@router.patch("/{serial}", summary="Edit a drone or its owner", response_model=DroneOut)
async def patch_drone(
    serial: str, body: DronePatch, caller: OperatorKey, session: SessionDep
) -> dict[str, Any]:
    """Change some fields; owner fields merge into its owner, shared by that person's drones."""
    return await drones.update_drone(session, caller, serial, changes_from_patch(body))
