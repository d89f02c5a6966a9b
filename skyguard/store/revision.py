"""The zone revision: bumped in the same transaction as every zone or exemption write, so each
worker sees on its next batch that its zone index is stale (and no worker needs telling)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

BUMP = text("UPDATE zone_revision SET revision = revision + 1 WHERE id = 1")
CURRENT = text("SELECT revision FROM zone_revision WHERE id = 1")


async def bump(session: AsyncSession) -> None:
    """Mark every worker's zone index stale, as of this transaction's commit."""
    await session.execute(BUMP)


async def current(session: AsyncSession) -> int:
    """The revision this session sees."""
    return int((await session.execute(CURRENT)).scalar_one())
