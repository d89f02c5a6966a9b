"""positions.segment: each report's straight flight from the one before, GiST-indexed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 14:20:00
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The engine's defaults: segments at most 60 s long and no faster than 150 m/s.
BACKFILL = """
UPDATE positions AS p SET segment = ST_MakeLine(s.b_geom, p.geom)
FROM (
    SELECT serial, time, geom,
           lag(time) OVER w AS b_time, lag(geom) OVER w AS b_geom
    FROM positions
    WINDOW w AS (PARTITION BY serial ORDER BY time)
) AS s
WHERE p.serial = s.serial AND p.time = s.time
  AND s.b_time >= s.time - interval '60 seconds'
  AND abs(ST_X(s.b_geom) - ST_X(s.geom)) <= 180
  AND ST_Distance(s.b_geom::geography, s.geom::geography)
      <= 150 * extract(epoch FROM s.time - s.b_time)
"""


def upgrade() -> None:
    op.add_column(
        "positions",
        sa.Column(
            "segment",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRING", srid=4326, spatial_index=False, nullable=True
            ),
            nullable=True,
        ),
    )
    op.execute(BACKFILL)
    op.create_index(
        op.f("ix_positions_segment"),
        "positions",
        ["segment"],
        unique=False,
        postgresql_using="gist",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_positions_segment"), table_name="positions", postgresql_using="gist")
    op.drop_column("positions", "segment")
