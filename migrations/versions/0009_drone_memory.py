"""drone_engine_state holds each drone's whole memory in compact binary: engine state and open flight

Ingest locks a drone's drone_engine_state row per batch; the row now carries all the batch needs
of that drone: the engine's state (`state`, binary instead of JSON), the open flight with its
launch evidence (`flight`, before in flights.evidence, read and locked per batch), and the last
report's place (`last_lon`, `last_lat` beside `last_time`) from which the next report's segment
starts. `open_episodes` counts the open alert episodes for the expiry tick. The flights table
keeps what the API shows; its `evidence` is written when the flight closes (NULL while open).
Both tables get room on their pages for the next version of a row (fillfactor).

Existing rows keep their JSON, as UTF-8 bytes starting with "{" (the binary format starts with a
version byte below 0x20); the store reads both and writes binary from then on.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An open flight as JSON: its columns as they are, and its evidence.
FLIGHT_JSON = """
    jsonb_build_object(
        'id', f.id, 'started_at', f.started_at, 'ended_at', f.ended_at,
        'report_count', f.report_count, 'distance_m', f.distance_m, 'max_alt_m', f.max_alt_m,
        'first_lon', f.first_lon, 'first_lat', f.first_lat, 'last_lon', f.last_lon,
        'last_lat', f.last_lat, 'last_alt_m', f.last_alt_m, 'evidence', f.evidence)
"""

MOVE_FLIGHTS = f"""
    UPDATE drone_engine_state AS e
    SET flight = convert_to(CAST({FLIGHT_JSON} AS text), 'UTF8')
    FROM flights AS f
    WHERE f.serial = e.serial AND f.closed_at IS NULL
"""  # noqa: S608 - no input

# Back: open flights get their evidence from a flight still in JSON; a binary one is lost
# (the flight goes on, its launch point estimated from its next reports on).
RESTORE_EVIDENCE = """
    UPDATE flights AS f
    SET evidence = CASE WHEN get_byte(e.flight, 0) = 123
                        THEN CAST(convert_from(e.flight, 'UTF8') AS jsonb) -> 'evidence'
                        ELSE jsonb_build_object('launch', jsonb_build_object()) END
    FROM drone_engine_state AS e
    WHERE f.serial = e.serial AND f.closed_at IS NULL AND e.flight IS NOT NULL
"""


def upgrade() -> None:
    op.execute(
        "INSERT INTO drone_engine_state (serial) "
        "SELECT serial FROM flights WHERE closed_at IS NULL ON CONFLICT (serial) DO NOTHING"
    )
    op.add_column("drone_engine_state", sa.Column("flight", sa.LargeBinary(), nullable=True))
    op.add_column("drone_engine_state", sa.Column("last_lon", sa.Float(), nullable=True))
    op.add_column("drone_engine_state", sa.Column("last_lat", sa.Float(), nullable=True))
    op.add_column(
        "drone_engine_state",
        sa.Column("open_episodes", sa.SmallInteger(), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE drone_engine_state SET "
        "last_lon = CAST(state -> 'last' ->> 'lon' AS float8), "
        "last_lat = CAST(state -> 'last' ->> 'lat' AS float8), "
        "open_episodes = jsonb_array_length(state -> 'episodes') "
        "WHERE state IS NOT NULL"
    )
    op.alter_column(
        "drone_engine_state",
        "state",
        type_=sa.LargeBinary(),
        postgresql_using="convert_to(CAST(state AS text), 'UTF8')",
    )
    op.execute(MOVE_FLIGHTS)
    op.alter_column("flights", "evidence", nullable=True)
    # Rows rewritten with every batch: room on their page lets the new version stay there (a
    # HOT update, no index entry, the old version pruned in passing), and the tables small.
    op.execute("ALTER TABLE drone_engine_state SET (fillfactor = 50)")
    op.execute("ALTER TABLE flights SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE flights RESET (fillfactor)")
    op.execute("ALTER TABLE drone_engine_state RESET (fillfactor)")
    op.execute(RESTORE_EVIDENCE)
    op.execute(
        "UPDATE flights SET evidence = jsonb_build_object('launch', jsonb_build_object()) "
        "WHERE evidence IS NULL"
    )
    op.alter_column("flights", "evidence", nullable=False)
    # a binary state is dropped: the drone starts afresh (its alerts close as the expiry finds)
    op.execute("UPDATE drone_engine_state SET state = NULL WHERE get_byte(state, 0) <> 123")
    op.alter_column(
        "drone_engine_state",
        "state",
        type_=postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
        postgresql_using="CAST(convert_from(state, 'UTF8') AS jsonb)",
    )
    op.drop_column("drone_engine_state", "open_episodes")
    op.drop_column("drone_engine_state", "last_lat")
    op.drop_column("drone_engine_state", "last_lon")
    op.drop_column("drone_engine_state", "flight")
