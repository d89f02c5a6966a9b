"""drone_engine_state.due_at: when the background tick must next look at a drone

The expiry tick judged every live drone every second. Each state is now written with the next
instant time alone may change the drone's alerts (an exit timer, silence, a zone window or
schedule, an exemption; NULL: only a report or a zone edit can), and the tick reads the drones
due through a partial index. Existing rows start NULL: each worker's first tick looks at every
live drone and writes their due times.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "drone_engine_state", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_drone_engine_state_due_at",
        "drone_engine_state",
        ["due_at"],
        postgresql_where=sa.text("due_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_drone_engine_state_due_at", table_name="drone_engine_state")
    op.drop_column("drone_engine_state", "due_at")
