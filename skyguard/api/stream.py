"""GET /v1/alerts/stream: alert events as Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from skyguard.alerts.stream import EventFilter, alert_stream, start_id
from skyguard.api.deps import SessionDep, SettingsDep, require
from skyguard.store.keys import Caller

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

StreamReaderKey = Annotated[Caller, Depends(require("operator", "reviewer"))]
EventId = Annotated[int | None, Query(ge=0, description="Resume after this event id.")]
LastEventIdHeader = Annotated[
    int | None, Header(alias="Last-Event-ID", ge=0, description="Set by EventSource on reconnect.")
]

STREAM_DOC = {
    200: {
        "description": "`id: <event id>`, `event: alert.opened|alert.updated|alert.closed|...`, "
        "`data: <the alert as JSON>`; `: keep-alive` comments while quiet.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/stream",
    summary="Live alert events (Server-Sent Events)",
    description="Every alert event after `Last-Event-ID` (header, or `last_event_id`), once, "
    "in id order, then live ones; without either, only events from now on. `zone_id`, `serial` "
    "and `kind` filter the alerts; ids stay increasing.",
    response_class=StreamingResponse,
    responses=STREAM_DOC,  # type: ignore[arg-type]
)
async def stream_alerts(
    request: Request,
    caller: StreamReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: EventId = None,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
    serial: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[Literal["breach", "approach"] | None, Query()] = None,
) -> StreamingResponse:
    """Alert events after Last-Event-ID (or last_event_id) once, in id order, then live ones."""
    resume = last_event_id_header if last_event_id_header is not None else last_event_id
    first = await start_id(session, resume)
    body = alert_stream(
        request.app.state.db,
        request.app.state.alert_signal,
        first,
        matches=EventFilter(zone_id, serial, kind).matches,
        poll_s=settings.stream_poll_s,
        keepalive_s=settings.stream_keepalive_s,
        gap_wait_s=settings.stream_gap_wait_s,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
