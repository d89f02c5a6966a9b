"""Telemetry in: one report or a batch; each report validated on its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.api.deps import caller_in_role
from skyguard.errors import InvalidInput, TooLarge
from skyguard.ingest.batch import IngestResult, ingest
from skyguard.ingest.coalesce import IngestQueue
from skyguard.settings import Settings
from skyguard.store import idempotency
from skyguard.store.db import Database
from skyguard.store.keys import Caller

router = APIRouter(prefix="/v1/telemetry", tags=["telemetry"])

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["serial", "time", "lon", "lat"],
    "properties": {
        "serial": {"type": "string"},
        "time": {"type": "string", "format": "date-time", "description": "RFC 3339 with offset"},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "alt_m": {"type": "number", "description": "altitude above mean sea level"},
        "height_m": {"type": "number", "description": "height above take-off or ground"},
        "speed_mps": {"type": "number"},
        "heading_deg": {"type": "number"},
        "vspeed_mps": {"type": "number"},
        "accuracy_m": {"type": "number", "description": "horizontal accuracy"},
        "source": {"type": "string"},
        "operator_lon": {"type": "number"},
        "operator_lat": {"type": "number"},
    },
}
BODY_SCHEMA = {
    "oneOf": [
        REPORT_SCHEMA,
        {
            "type": "object",
            "required": ["reports"],
            "properties": {"reports": {"type": "array", "items": REPORT_SCHEMA}},
        },
    ]
}


def reports_of(body: bytes, cap: int) -> tuple[list[Any], bool]:
    """The raw reports of a body and whether it was a batch; InvalidInput if it is not JSON."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", "/") from None
    if isinstance(parsed, dict) and "reports" in parsed:
        raws = parsed["reports"]
        if not isinstance(raws, list):
            raise InvalidInput("reports must be a list", "/reports")
        if len(raws) > cap:
            raise TooLarge(f"{len(raws)} reports is over the cap of {cap} per request", "/reports")
        return raws, True
    return [parsed], False


IDEMPOTENCY_KEY_MAX = 200


@router.post(
    "",
    summary="Post one position report or a batch",
    openapi_extra={
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "A repeated request with the same key gets the first response.",
                "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": BODY_SCHEMA}},
        },
    },
)
async def post_telemetry(request: Request) -> JSONResponse:
    """Store reports: accepted, duplicates (same serial and time: stored once) and rejected ones.

    A 2xx means the accepted reports are committed. A single bad report is a 422; in a batch,
    bad reports are listed in `rejected` and the good ones are kept. With an Idempotency-Key,
    a repeated request gets the first response again.

    Small requests (up to SKYGUARD_GROUP_COMMIT_REPORTS reports, without an Idempotency-Key)
    share one transaction with the others arriving meanwhile (group commit); each still gets
    its own answer, and `alerts` lists the alerts its drones opened, updated or closed in it.
    """
    # The hot path of the service: the caller and the settings are read here rather than
    # through dependencies, which cost more than the rest of a one-report request.
    caller = await caller_in_role(request, ("integrator",))
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.db
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        detail = f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters"
        raise InvalidInput(detail, "header:Idempotency-Key")
    body = await request.body()
    if idempotency_key:
        async with database.session() as session:  # committed before the response goes out
            return await _ingest_once(request, session, caller, idempotency_key, body)
    raws, is_batch = reports_of(body, settings.max_batch_reports)
    if len(raws) <= settings.group_commit_reports:
        queue: IngestQueue = request.app.state.ingest_queue
        result = await queue.submit(raws)
    else:
        async with database.session() as session:
            result = await _ingest_now(request, session, raws)
    return JSONResponse(answer_of(result, is_batch))


async def _ingest_once(
    request: Request, session: AsyncSession, caller: Caller, key: str, body: bytes
) -> JSONResponse:
    """Ingest a request with an Idempotency-Key, or replay the answer its first copy got."""
    fingerprint = idempotency.request_hash(body)
    stored = await idempotency.replay(session, caller.key_id, key, fingerprint)
    if stored is not None:
        return JSONResponse(
            stored[1], status_code=stored[0], headers={"Idempotent-Replayed": "true"}
        )
    settings: Settings = request.app.state.settings
    raws, is_batch = reports_of(body, settings.max_batch_reports)
    answer = answer_of(await _ingest_now(request, session, raws), is_batch)
    await idempotency.remember(session, caller.key_id, key, fingerprint, 200, answer)
    return JSONResponse(answer)


async def _ingest_now(request: Request, session: AsyncSession, raws: list[Any]) -> IngestResult:
    """Ingest the reports in the caller's own transaction."""
    settings: Settings = request.app.state.settings
    return await ingest(
        session,
        raws,
        engine=request.app.state.engine,
        now=datetime.now(UTC),
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
    )


def answer_of(result: IngestResult, is_batch: bool) -> dict[str, Any]:
    """The response body; a single report that was refused is a 422 instead."""
    if not is_batch and result.rejected:
        rejection = result.rejected[0]
        raise InvalidInput(rejection.detail, rejection.pointer.removeprefix("/reports/0") or "/")
    return result.as_json()
