"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from skyguard.api.problems import problem
from skyguard.store.db import Database
from skyguard.store.migrate import current_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    """Answers while the process runs, whatever the database does."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    responses={503: {"description": "Not ready: database down or migrations pending"}},
)
async def readyz(request: Request) -> Any:
    """200 when the database answers and is at the newest migration, else 503 problem+json."""
    database: Database = request.app.state.db
    try:
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            revision = await conn.run_sync(current_revision)
    except Exception as exc:  # any failure to reach the database means not ready
        return problem(503, f"database unreachable: {type(exc).__name__}")
    head = request.app.state.migration_head  # read once, in create_app
    if revision != head:
        return problem(503, f"migrations pending: database at {revision}, code at {head}")
    return JSONResponse({"status": "ready", "migration": revision})
