"""Alerts: operators and reviewers list and read them; operators acknowledge and resolve."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

from skyguard.api.deps import OperatorKey, SessionDep, SettingsDep, require
from skyguard.api.paging import (
    clamp_limit,
    decode_time_id_cursor,
    encode_cursor,
    next_link,
    split_page,
)
from skyguard.api.windows import check_window
from skyguard.errors import InvalidInput
from skyguard.store import alerts
from skyguard.store.keys import Caller
from skyguard.store.tables import ALERT_STATUSES

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

AlertReaderKey = Annotated[Caller, Depends(require("operator", "reviewer"))]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class AlertNote(BaseModel):
    """An optional note to keep on the alert (it replaces an earlier one; the audit log has all)."""

    model_config = ConfigDict(extra="forbid")

    note: Note | None = None


def parse_statuses(values: list[str] | None) -> tuple[str, ...]:
    """Statuses from repeated and comma-separated values; InvalidInput for an unknown one."""
    found = [s.strip() for value in values or [] for s in value.split(",") if s.strip()]
    unknown = sorted(set(found) - set(ALERT_STATUSES))
    if unknown:
        allowed = ", ".join(ALERT_STATUSES)
        raise InvalidInput(
            f"unknown status {', '.join(unknown)} (one of {allowed})", "query:status"
        )
    return tuple(dict.fromkeys(found))


@router.get("", summary="List alerts, newest first")
async def list_alerts(
    request: Request,
    caller: AlertReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    status: Annotated[
        list[str] | None,
        Query(description="open, acknowledged, resolved, closed; repeat or comma-separate."),
    ] = None,
    kind: Literal["breach", "approach"] | None = None,
    zone_id: uuid.UUID | None = None,
    serial: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="RFC 3339: opened at or after this.")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="RFC 3339: opened before this.")
    ] = None,
    limit: Annotated[int | None, Query(description="Page size, clamped to the maximum.")] = None,
    cursor: Annotated[str | None, Query(description="From a `next` link.")] = None,
) -> dict[str, Any]:
    """Alerts matching every filter given, by opening time newest first, paged."""
    check_window(since, until)
    page_size = clamp_limit(limit, settings)
    query = alerts.AlertQuery(
        statuses=parse_statuses(status),
        kind=kind,
        zone_id=zone_id,
        serial=serial,
        since=since,
        until=until,
        after=decode_time_id_cursor(cursor),
        limit=page_size,
    )
    rows = await alerts.list_alerts(session, query)
    page, last_row = split_page(rows, page_size)
    last = last_row[0] if last_row else None
    link = next_link(request, encode_cursor(last.opened_at, last.id) if last else None)
    return {"alerts": [body for _, body in page], "next": link}


@router.get("/{alert_id:uuid}", summary="One alert")
async def get_alert(
    alert_id: uuid.UUID, caller: AlertReaderKey, session: SessionDep
) -> dict[str, Any]:
    """The alert with its drone's registration and owner."""
    return await alerts.alert_body(session, alert_id)


@router.post("/{alert_id:uuid}/ack", summary="Acknowledge an alert")
async def acknowledge_alert(
    alert_id: uuid.UUID, caller: OperatorKey, session: SessionDep, body: AlertNote | None = None
) -> dict[str, Any]:
    """Record who acknowledged it and when (a closed one stays closed); 409 if acked or resolved."""
    return await alerts.acknowledge(session, caller, alert_id, body.note if body else None)


@router.post("/{alert_id:uuid}/resolve", summary="Resolve an alert")
async def resolve_alert(
    alert_id: uuid.UUID, caller: OperatorKey, session: SessionDep, body: AlertNote | None = None
) -> dict[str, Any]:
    """Mark it resolved with who and when, whether or not the drone has left; 409 if it was."""
    return await alerts.resolve(session, caller, alert_id, body.note if body else None)
