"""Track history and flights: what reviewers read after the fact and officers use to find the
pilot (each flight's launch point)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from skyguard.api.deps import ReaderKey, SessionDep, SettingsDep
from skyguard.api.paging import (
    Cursor,
    Limit,
    clamp_limit,
    decode_time_id_cursor,
    encode_cursor,
    next_link,
    split_page,
)
from skyguard.api.windows import OpenSince, OpenUntil, check_window
from skyguard.store import alerts, drones, flights
from skyguard.tracks.export import Leg, simplify, track_csv, track_geojson

router = APIRouter(tags=["tracks"])


@router.get(
    "/v1/drones/{serial}/track",
    summary="A drone's track: GeoJSON or CSV",
    responses={200: {"content": {"application/geo+json": {}, "text/csv": {}}}},
)
async def get_track(
    serial: str,
    caller: ReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    since: OpenSince = None,
    until: OpenUntil = None,
    format: Annotated[
        Literal["geojson", "csv"], Query(description="geojson (default) or csv.")
    ] = "geojson",
    geometry: Annotated[
        Literal["lines", "points"],
        Query(description="GeoJSON: a LineString per flight (default) or a Point per report."),
    ] = "lines",
    tolerance_m: Annotated[
        float | None,
        Query(ge=0, le=10_000, description="Simplify each flight to this many metres."),
    ] = None,
) -> Any:
    """The drone's stored reports in [since, until), in time order, cut into flights where the gap
    between two reports exceeds SKYGUARD_FLIGHT_GAP_S.

    GeoJSON: a FeatureCollection with a LineString per flight (a Point if it has one report)
    whose properties list `times` and the measures (`alt_m`, `height_m`, ...) vertex for vertex,
    or with `geometry=points` a Point per report with every field. CSV: a header, then a row per
    report with every field and its flight id; posting the rows back as telemetry gives the same
    track. `tolerance_m` keeps only the reports Douglas-Peucker needs for that tolerance (in
    metres, first and last always kept). 404 for an unknown drone; 422 over
    SKYGUARD_TRACK_MAX_POINTS reports.
    """
    check_window(since, until)
    await drones.drone_body(session, serial)  # 404 for a drone never registered nor seen
    legs = await flights.track_legs(
        session,
        serial,
        since,
        until,
        gap=timedelta(seconds=settings.flight_gap_s),
        max_points=settings.track_max_points,
    )
    if tolerance_m:
        legs = [Leg(leg.flight_id, simplify(leg.reports, tolerance_m)) for leg in legs]
    if format == "csv":
        name = quote(f"{serial}-track.csv", safe="")
        return StreamingResponse(
            track_csv(legs),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
        )
    body = track_geojson(legs, points=geometry == "points")
    return JSONResponse(body, media_type="application/geo+json")


@router.get("/v1/drones/{serial}/flights", summary="A drone's flights, newest first")
async def list_flights(
    request: Request,
    serial: str,
    caller: ReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    since: OpenSince = None,
    until: OpenUntil = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Flights overlapping [since, until): start and end, launch and landing points, maximum
    height, distance flown, duration; paged by start time, newest first."""
    check_window(since, until)
    await drones.drone_body(session, serial)
    page_size = clamp_limit(limit, settings)
    rows = await flights.list_flights(
        session,
        serial,
        since=since,
        until=until,
        after=decode_time_id_cursor(cursor),
        limit=page_size,
    )
    page, last = split_page(rows, page_size)
    link = next_link(request, encode_cursor(last.started_at, last.id) if last else None)
    return {"flights": [flights.flight_json(row) for row in page], "next": link}


@router.get("/v1/flights/{flight_id}", summary="One flight, with the alerts it raised")
async def get_flight(
    flight_id: uuid.UUID, caller: ReaderKey, session: SessionDep
) -> dict[str, Any]:
    """The flight's summary and launch point (`method`: ground_start, operator_location or
    estimated, `basis` says from what; the truth lies within `radius_m` in at least 80% of
    measured cases) and the alerts opened during it."""
    row = await flights.load_flight(session, flight_id)
    raised = await alerts.alerts_of_flight(session, row.id)
    return {**flights.flight_json(row), "alerts": raised}
