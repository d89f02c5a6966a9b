"""Idempotency-Key: the first response to a keyed request, replayed for its repeats."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import Conflict
from skyguard.store.tables import IdempotentResponse


def request_hash(body: bytes) -> str:
    """A fingerprint of the request body, to refuse a key reused for a different request."""
    return hashlib.sha256(body).hexdigest()


async def replay(
    session: AsyncSession, key_id: uuid.UUID | None, key: str, fingerprint: str
) -> tuple[int, dict[str, Any]] | None:
    """The stored (status, body) for this caller's key, or None if the key is new."""
    if key_id is None:
        return None
    row = await session.scalar(
        select(IdempotentResponse).where(
            IdempotentResponse.key_id == key_id, IdempotentResponse.idempotency_key == key
        )
    )
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise Conflict(
            "this Idempotency-Key was used for a different request body", "header:Idempotency-Key"
        )
    return row.status_code, row.body


async def remember(
    session: AsyncSession,
    key_id: uuid.UUID | None,
    key: str,
    fingerprint: str,
    status: int,
    body: dict[str, Any],
) -> None:
    """Keep the response in the same transaction as the work it describes."""
    if key_id is None:
        return
    statement = insert(IdempotentResponse).values(
        key_id=key_id, idempotency_key=key, request_hash=fingerprint, status_code=status, body=body
    )
    await session.execute(statement.on_conflict_do_nothing())
