"""skyguard_ensure_position_partitions: workers making the same new day at once wait, not fail

Two transactions creating the same day's partition at once raced: the second's CREATE TABLE
failed on pg_type's unique index (a unique_violation, not duplicate_table), and its whole
ingest transaction with it. A missing day is now created under a transaction-level advisory
lock on that day: a second worker waits for the first to commit, looks again and finds it.
The lock is taken only when the day is missing, so ingest into existing days never waits.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 16:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION skyguard_ensure_position_partitions(times timestamptz[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day date;
    part text;
    made integer := 0;
BEGIN
    FOR day IN SELECT DISTINCT (t AT TIME ZONE 'UTC')::date FROM unnest(times) AS t LOOP
        part := 'positions_' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(quote_ident(part)) IS NOT NULL;
        PERFORM pg_advisory_xact_lock(hashtext('skyguard_positions_partition'), day - DATE '2000-01-01');
        -- made while we waited? Ask pg_class with a fresh snapshot: to_regclass reads the
        -- catalog cache, which taking an advisory lock does not refresh
        CONTINUE WHEN EXISTS (SELECT FROM pg_class
                              WHERE relname = part AND relnamespace = current_schema()::regnamespace);
        EXECUTE format(
            'CREATE TABLE %I (LIKE positions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
        EXECUTE format(
            'ALTER TABLE positions ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            part, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
        made := made + 1;
    END LOOP;
    RETURN made;
END
$$
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION skyguard_ensure_position_partitions(times timestamptz[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day date;
    part text;
    made integer := 0;
BEGIN
    FOR day IN SELECT DISTINCT (t AT TIME ZONE 'UTC')::date FROM unnest(times) AS t LOOP
        part := 'positions_' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(quote_ident(part)) IS NOT NULL;
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I (LIKE positions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
            EXECUTE format(
                'ALTER TABLE positions ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                part, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        EXCEPTION WHEN duplicate_table THEN
            NULL;  -- another worker made it first
        END;
    END LOOP;
    RETURN made;
END
$$
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(PREVIOUS)
