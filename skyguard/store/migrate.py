"""Run the Alembic migrations in migrations/ from code (the CLI, the app's readiness, the tests)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool

from skyguard.settings import to_psycopg_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Compare only what our models own; PostGIS's own tables are not ours."""
    return not (type_ == "table" and reflected and compare_to is None)


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = to_psycopg_url(url)
    return config


def upgrade(url: str) -> None:
    """Bring the database to the newest migration (creates PostGIS when allowed)."""
    command.upgrade(alembic_config(url), "head")


@functools.cache
def head_revision() -> str | None:
    """The newest migration in migrations/ (read once a process: the scripts ship with the
    code, and Alembic parses every one of them to find it)."""
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The migration the connected database is at."""
    return MigrationContext.configure(connection).get_current_revision()


def is_at_head(url: str) -> bool:
    """Whether the database has every migration applied."""
    engine = create_engine(to_psycopg_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return current_revision(conn) == head_revision()
    finally:
        engine.dispose()
