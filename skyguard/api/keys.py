"""API keys (admin only) and the audit log (admin and reviewer)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from skyguard.api.deps import AdminKey, AuditReaderKey, SessionDep, SettingsDep
from skyguard.api.paging import clamp_limit, next_link, split_page
from skyguard.store import audit
from skyguard.store.keys import create_key
from skyguard.store.zones import iso_utc

router = APIRouter(prefix="/v1", tags=["keys and audit"])


class KeyIn(BaseModel):
    """A key to issue."""

    role: Literal["admin", "operator", "integrator", "reviewer"]
    name: str = Field(min_length=1, max_length=200)


@router.post("/keys", status_code=201, summary="Issue an API key")
async def issue_key(body: KeyIn, caller: AdminKey, session: SessionDep) -> dict[str, Any]:
    """Issue a key; its secret is in this response only and is stored hashed."""
    issued = await create_key(session, role=body.role, name=body.name)
    summary = {"id": str(issued.caller.key_id), "name": body.name, "role": body.role}
    await audit.record(session, caller, "create", "api_key", summary["id"], after=summary)
    return {**summary, "key": issued.secret}


@router.get("/audit", summary="Read the audit log")
async def read_audit(
    request: Request,
    caller: AuditReaderKey,
    session: SessionDep,
    settings: SettingsDep,
    object_type: str | None = None,
    object_id: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="RFC 3339, inclusive.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="RFC 3339, exclusive.")] = None,
    limit: Annotated[int | None, Query(description="Page size, clamped to the maximum.")] = None,
    cursor: Annotated[int | None, Query(description="From a `next` link.")] = None,
) -> dict[str, Any]:
    """Every write, oldest first: who (key), when, action, object, before and after."""
    page_size = clamp_limit(limit, settings)
    rows = await audit.list_entries(
        session,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        after_id=cursor,
        limit=page_size + 1,
    )
    page, last = split_page(rows, page_size)
    return {
        "entries": [
            {
                "id": r.id,
                "at": iso_utc(r.at),
                "key_id": str(r.key_id) if r.key_id else None,
                "key_name": r.key_name,
                "action": r.action,
                "object_type": r.object_type,
                "object_id": r.object_id,
                "before": r.before,
                "after": r.after,
            }
            for r in page
        ],
        "next": next_link(request, str(last.id) if last else None),
    }
