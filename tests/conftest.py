"""Test harness: one real PostGIS per session (embedded, or SKYGUARD_TEST_DATABASE_URL), migrated
once with Alembic; every test runs in a transaction that is rolled back at its end."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from skyguard.app import create_app
from skyguard.settings import Settings, to_psycopg_url
from skyguard.store.db import Database
from skyguard.store.embedded import EmbeddedPostgres
from skyguard.store.keys import create_key
from skyguard.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ROLES = ("admin", "operator", "integrator", "reviewer")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated, empty test database of this run's own (runs side by side do not collide)."""
    url = os.environ.get("SKYGUARD_TEST_DATABASE_URL")
    if url:
        upgrade(url)
        yield to_psycopg_url(url)
        return
    cluster = EmbeddedPostgres(ROOT / ".skyguard")
    started = cluster.start()
    name = f"skyguard_test_{os.getpid()}"
    url = cluster.ensure_database(name, fresh=True)
    upgrade(url)
    yield to_psycopg_url(url)
    cluster.drop_database(name)
    if started:  # leave a cluster running only if it was running before the tests
        cluster.stop()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        max_body_bytes=2_000_000,
        page_limit_max=500,
        run_background_tasks=False,
        freeze_heap=False,  # each test's app becomes garbage after it; frozen, it never would
        gc_young_threshold=0,  # the test process keeps Python's collector as it is
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
async def app(settings: Settings, connection: AsyncConnection, engine: AsyncEngine):
    """The real app with its lifespan; its sessions join the test's transaction as savepoints."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await application.state.db.dispose()
        sessions = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        application.state.db = Database(engine, sessions)
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://skyguard.test") as c:
        yield c


@pytest.fixture
async def headers(app) -> dict[str, dict[str, str]]:
    """Authorization headers per role: headers['operator'] and so on."""
    out: dict[str, dict[str, str]] = {}
    async with app.state.db.session() as session:
        for role in ROLES:
            issued = await create_key(session, role=role, name=f"test {role}")
            out[role] = {"Authorization": f"Bearer {issued.secret}"}
    return out
