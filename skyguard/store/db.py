"""The async engine and session factory, and where the database comes from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from skyguard.settings import Settings, to_psycopg_url
from skyguard.store.embedded import EmbeddedPostgres


@dataclass
class Database:
    """One engine and its session factory; built in the app's lifespan, disposed at its end."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10) -> Database:
        """An engine on `url` (any postgres URL flavour; the psycopg 3 driver is used)."""
        engine = create_async_engine(
            to_psycopg_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            # a 2xx promises the data is on disk, whatever the server's default says; JIT
            # compiling costs seconds on the history queries and buys nothing on OLTP ones
            connect_args={"options": "-c synchronous_commit=on -c jit=off"},
        )
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The configured URL, or the embedded cluster's (started if it was not running)."""
    if settings.database_url:
        return settings.database_url, None
    cluster = EmbeddedPostgres(settings.data_dir)
    cluster.start()
    return cluster.ensure_database("skyguard"), cluster
