"""The zone revision: bumped in the same transaction as every zone or exemption write, so each
worker sees on its next batch that its zone index is stale (and no worker needs telling)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.store import driver

BUMP = text("UPDATE zone_revision SET revision = revision + 1 WHERE id = 1")
CURRENT_SQL = "SELECT revision FROM zone_revision WHERE id = 1"
CURRENT = text(CURRENT_SQL)


async def bump(session: AsyncSession) -> None:
    """Mark every worker's zone index stale, as of this transaction's commit."""
    await session.execute(BUMP)


async def current(session: AsyncSession) -> int:
    """The revision this session sees."""
    return int((await session.execute(CURRENT)).scalar_one())


async def send_current(connection: driver.Connection) -> driver.Pending[int]:
    """The revision, read with the statements around it (in a pipeline: no round trip)."""
    return await driver.query(connection, CURRENT_SQL, None, lambda rows: int(rows[0][0]))
