"""History for reviewers: who entered a zone between two times, and who was in an area."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from skyguard.api.deps import ReaderKey, SessionDep, SettingsDep
from skyguard.api.paging import (
    Cursor,
    Limit,
    clamp_limit,
    decode_cursor,
    decode_time_serial_cursor,
    encode_cursor,
    next_link,
    split_page,
)
from skyguard.api.windows import Since, Until, resolve_window, window_json
from skyguard.api.zones import parse_bbox
from skyguard.store import history

router = APIRouter(tags=["history"])

BBox = Annotated[
    str, Query(description="west,south,east,north in degrees (west > east: crosses 180°).")
]


def required_bbox(raw: str) -> tuple[float, float, float, float]:
    """parse_bbox for a bbox that must be given."""
    box = parse_bbox(raw)
    assert box is not None  # a str in gives a box out
    return box


@router.get("/v1/zones/{zone_id}/intrusions", summary="Who entered a zone, when, for how long")
async def zone_intrusions(
    request: Request,
    zone_id: uuid.UUID,
    caller: ReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    since: Since = None,
    until: Until = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Intrusions into the zone as it is now, from the stored reports, by entry time.

    A report counts inside as the engine judges it: the zone covers its position (on the
    boundary counts as inside), its altitude lies in the zone's band (AGL: `height_m`, AMSL:
    `alt_m`; an unknown altitude counts as inside), the zone applies at its time (active window,
    weekly schedule in the schedule's time zone), and the drone holds no exemption valid then
    (a banded exemption covers only an altitude known to lie in its band). `alert_ids` lists
    the breach alerts the engine raised for the drone and zone during the intrusion. An
    intrusion is a maximal run of one drone's consecutive reports inside the zone, joined by
    straight segments (a segment between two reports inside may leave a concave zone briefly:
    still one intrusion); a segment from a report outside to the next one outside that passes
    through the zone is an intrusion of its own (`crossed_between_reports`, `report_count` 0)
    when the middle of its stretch inside, with time and altitude interpolated along it, is
    inside by those rules. Where a run starts or ends by the band or the time rather than the
    boundary (a drone climbing out, a zone starting over it), `entered_at` is the first report
    inside and `exited_at` the first report after it outside. Reports more than the silence timeout
    (SKYGUARD_SILENCE_TIMEOUT_S, 60 s) apart, or further apart than 150 m/s allows, are not
    joined: the engine's rule. `entered_at`/`exited_at` and `entry`/`exit` are interpolated
    where the straight lon/lat segment crosses the boundary, by the fraction of its length;
    with no joinable report before, `entered_at` is the first report inside. `exited_at` and
    `exit` are null when no exit was seen (no report within the timeout after the last one
    inside, or the run goes on after `until`: `continues_after_until`); `duration_s` then runs
    to `last_inside_at`. Reports in [since, until) are read (a crossing segment counts when it
    ends in the window); a drone inside already at `since` has `began_before_since` and
    `entered_at` at its first report in the window. Paged by (`entered_at`, serial). 404: no
    zone.
    """
    start, end = resolve_window(since, until)
    page_size = clamp_limit(limit, settings)
    query = history.IntrusionQuery(
        zone_id=zone_id,
        since=start,
        until=end,
        after=decode_time_serial_cursor(cursor),
        limit=page_size,
    )
    rows = await history.zone_intrusions(session, query, settings.engine_config())
    page, last = split_page(rows, page_size)
    link = next_link(request, encode_cursor(*last[0]) if last else None)
    return {
        "zone_id": str(zone_id),
        **window_json(start, end),
        "intrusions": [body for _, body in page],
        "next": link,
    }


@router.get("/v1/positions", summary="Who was in an area at a time")
async def positions_in_area(
    request: Request,
    caller: ReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    bbox: BBox,
    since: Since = None,
    until: Until = None,
    serial: Annotated[str | None, Query(max_length=200, description="Only this drone.")] = None,
    group: Annotated[
        Literal["drone"] | None, Query(description="drone: one row per drone, by serial.")
    ] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Reports in the box (edges included) and [since, until), by (time, serial), paged.

    Each report has its stored fields and the drone's `registered`. With `group=drone`: one row
    per drone with its first and last report time in the box and its report count, by serial.
    """
    start, end = resolve_window(since, until)
    page_size = clamp_limit(limit, settings)
    query = history.AreaQuery(
        box=required_bbox(bbox), since=start, until=end, serial=serial, limit=page_size
    )
    if group == "drone":
        after_serial = decode_cursor(cursor, 1)[0] if cursor is not None else None
        rows = await history.drones_in_area(session, replace(query, after_serial=after_serial))
        page, last = split_page(rows, page_size)
        link = next_link(request, encode_cursor(last["serial"]) if last else None)
        return {**window_json(start, end), "drones": list(page), "next": link}
    after = decode_time_serial_cursor(cursor)
    rows = await history.reports_in_area(session, replace(query, after=after))
    page, last = split_page(rows, page_size)
    link = next_link(request, encode_cursor(last["time"], last["serial"]) if last else None)
    return {**window_json(start, end), "positions": list(page), "next": link}
