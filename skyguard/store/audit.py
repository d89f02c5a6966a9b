"""The audit log: every write appended with who, when, what, before and after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.store.keys import Caller
from skyguard.store.tables import AuditEntry


async def record(
    session: AsyncSession,
    caller: Caller,
    action: str,
    object_type: str,
    object_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one entry in the same transaction as the write it describes."""
    session.add(
        AuditEntry(
            key_id=caller.key_id,
            key_name=caller.name,
            action=action,
            object_type=object_type,
            object_id=object_id,
            before=before,
            after=after,
        )
    )
    await session.flush()


async def list_entries(
    session: AsyncSession,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> Sequence[AuditEntry]:
    """Entries oldest first, filtered, after a cursor id."""
    query = select(AuditEntry).order_by(AuditEntry.id).limit(limit)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if after_id is not None:
        query = query.where(AuditEntry.id > after_id)
    return (await session.scalars(query)).all()
