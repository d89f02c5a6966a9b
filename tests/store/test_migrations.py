"""Models and migrations agree, and the schedule SQL mirrors the Python schedule."""

import json
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from skyguard.geofence.schedule import DAYS, parse_schedule
from skyguard.store.migrate import current_revision, head_revision, include_object
from skyguard.store.tables import Base


async def test_models_and_migrations_agree(connection):
    def diff(sync_conn):
        context = MigrationContext.configure(
            sync_conn, opts={"include_object": include_object, "compare_type": True}
        )
        return compare_metadata(context, Base.metadata)

    assert await connection.run_sync(diff) == []


async def test_database_is_at_head(connection):
    assert await connection.run_sync(current_revision) == head_revision()


windows = st.fixed_dictionaries(
    {
        "days": st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True),
        "start": st.sampled_from(["00:00", "06:30", "13:00", "22:00"]),
        "end": st.sampled_from(["02:00", "13:00", "18:45", "24:00"]),
    }
).filter(lambda w: w["start"] != w["end"])
schedules = st.fixed_dictionaries(
    {
        "timezone": st.sampled_from(["UTC", "Europe/Zurich", "America/New_York", "Etc/GMT-1"]),
        "windows": st.lists(windows, min_size=1, max_size=3),
    }
)
instants = st.integers(0, 2 * 365 * 24 * 60).map(
    lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m)
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(schedule=schedules, at=instants)
async def test_sql_schedule_agrees_with_python(connection, schedule, at):
    parsed = parse_schedule(schedule)
    row = await connection.execute(
        text("SELECT schedule_applies(CAST(:s AS jsonb), :at)"),
        {"s": json.dumps(parsed.to_json()), "at": at},
    )
    assert row.scalar() == parsed.applies_at(at)
