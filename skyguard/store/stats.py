"""Statistics counted in PostGIS, one statement each: per time bucket, per grid cell, and each
zone's alerts against its own past; and the box conditions on positions.geom history shares."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pyproj import CRS, Transformer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import InvalidInput
from skyguard.store.zones import iso_utc

Box = tuple[float, float, float, float]  # west, south, east, north in degrees


def split_box(box: Box) -> list[Box]:
    """The box as one or two boxes within -180..180; west > east (or past ±180) wraps round."""
    west, south, east, north = box
    if east - west >= 360.0:
        return [(-180.0, south, 180.0, north)]
    if west > east:
        return [(west, south, 180.0, north), (-180.0, south, east, north)]
    if west < -180.0:
        return [(west + 360.0, south, 180.0, north), (-180.0, south, east, north)]
    if east > 180.0:
        return [(west, south, 180.0, north), (-180.0, south, east - 360.0, north)]
    return [box]


def box_sql(column: str, box: Box) -> tuple[str, dict[str, float]]:
    """`column && box` as SQL with bound parameters, OR-ed over the parts of a wrapping box."""
    parts, params = [], {}
    for i, (west, south, east, north) in enumerate(split_box(box)):
        parts.append(f"{column} && ST_MakeEnvelope(:w{i}, :s{i}, :e{i}, :n{i}, 4326)")
        params.update({f"w{i}": west, f"s{i}": south, f"e{i}": east, f"n{i}": north})
    return "(" + " OR ".join(parts) + ")", params


BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_BUCKETS = 10_000

# Buckets are UTC hours or days: the series runs over timestamps without time zone in UTC, so a
# day is always 24 hours whatever the session's time zone.
TREND = text("""
WITH buckets AS (
    SELECT b AT TIME ZONE 'UTC' AS start
    FROM generate_series(
        date_trunc(:unit, CAST(:since AS timestamptz) AT TIME ZONE 'UTC'),
        CAST(:until AS timestamptz) AT TIME ZONE 'UTC' - interval '1 microsecond',
        CAST(:step AS interval)) AS b
),
flights_by AS (
    SELECT date_trunc(:unit, started_at, 'UTC') AS start, count(*) AS n FROM flights
    WHERE started_at >= :since AND started_at < :until GROUP BY 1
),
alerts_by AS (
    SELECT date_trunc(:unit, opened_at, 'UTC') AS start, count(*) AS n FROM alerts
    WHERE opened_at >= :since AND opened_at < :until GROUP BY 1
)
SELECT b.start, coalesce(f.n, 0) AS flights, coalesce(a.n, 0) AS alerts
FROM buckets b
LEFT JOIN flights_by f ON f.start = b.start
LEFT JOIN alerts_by a ON a.start = b.start
ORDER BY b.start
""")


async def trend(
    session: AsyncSession, bucket: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Flights (by start) and alerts (by opening) per UTC bucket, every bucket present."""
    step = BUCKETS[bucket]
    if (until - since) / step > MAX_BUCKETS:
        detail = f"over {MAX_BUCKETS:,} buckets: use a shorter window or a longer bucket"
        raise InvalidInput(detail, "query:bucket")
    params = {"unit": bucket, "step": step, "since": since, "until": until}
    rows = await session.execute(TREND, params)
    return [{"start": iso_utc(r.start), "flights": r.flights, "alerts": r.alerts} for r in rows]


MAX_CELLS = 250_000
MAX_SPAN_DEG = 20.0
AUTHALIC_RADIUS_M = 6_371_007.181  # the sphere with the WGS84 ellipsoid's area

# Cells are squares in a spherical Lambert azimuthal equal-area projection (Snyder 24-2..4)
# centred on whole degrees near the box: equal area, so counts compare as densities, and within
# 10° of the centre shapes are true to 0.4%. Computed from lon/lat in SQL: PostGIS builds a
# PROJ object per row for a projection given as text, which is thousands of times slower.
HEATMAP = """
SELECT floor(:radius_m * k * cos(phi) * sin(dl) / :cell_m)::bigint AS i,
       floor(:radius_m * k * (:cos0 * sin(phi) - :sin0 * cos(phi) * cos(dl)) / :cell_m)::bigint
           AS j,
       count(*) AS n
FROM (
    SELECT phi, dl, sqrt(2 / (1 + :sin0 * sin(phi) + :cos0 * cos(phi) * cos(dl))) AS k
    FROM (SELECT radians(p.lat) AS phi, radians(p.lon - :lon0) AS dl
          FROM positions p
          WHERE {box} AND p.time >= :since AND p.time < :until) AS r
) AS projected
GROUP BY 1, 2
ORDER BY 2, 1
"""


@dataclass(frozen=True)
class Grid:
    """Square cells of cell_m in the equal-area projection centred on (lon0, lat0)."""

    lon0: float
    lat0: float
    cell_m: float
    cells: int

    def params(self) -> dict[str, float]:
        """The projection's constants for HEATMAP."""
        phi0 = math.radians(self.lat0)
        return {
            "lon0": self.lon0,
            "sin0": math.sin(phi0),
            "cos0": math.cos(phi0),
            "radius_m": AUTHALIC_RADIUS_M,
            "cell_m": self.cell_m,
        }

    def proj(self) -> str:
        """The same projection as a PROJ string."""
        return (
            f"+proj=laea +lat_0={self.lat0:g} +lon_0={self.lon0:g} +R={AUTHALIC_RADIUS_M} "
            "+units=m +no_defs"
        )


def _outline(west: float, south: float, east: float, north: float) -> tuple[Any, Any]:
    """Points along the four sides of a box (east may be past 180°): where its extremes lie."""
    t = np.linspace(0.0, 1.0, 41)
    lons, lats = west + (east - west) * t, south + (north - south) * t
    return (
        np.concatenate([lons, lons, np.full_like(t, west), np.full_like(t, east)]),
        np.concatenate([np.full_like(t, south), np.full_like(t, north), lats, lats]),
    )


@functools.lru_cache(maxsize=64)
def equal_area(proj: str) -> Transformer:
    """lon/lat -> the projection, built once per centre."""
    return Transformer.from_crs("EPSG:4326", CRS.from_proj4(proj), always_xy=True)


def plan_grid(box: Box, cell_m: float) -> Grid:
    """The grid for a heatmap of the box; InvalidInput if the box or the grid is too large."""
    west, south, east, north = box
    width = east - west if west <= east else east + 360.0 - west
    if width > MAX_SPAN_DEG or north - south > MAX_SPAN_DEG:
        raise InvalidInput(f"a heatmap box spans at most {MAX_SPAN_DEG:g}°", "query:bbox")
    lon0 = float(round((west + width / 2.0 + 180.0) % 360.0 - 180.0))
    grid = Grid(lon0=lon0, lat0=float(round((south + north) / 2.0)), cell_m=cell_m, cells=0)
    xs, ys = equal_area(grid.proj()).transform(*_outline(west, south, west + width, north))
    columns = math.floor(max(xs) / cell_m) - math.floor(min(xs) / cell_m) + 1
    rows = math.floor(max(ys) / cell_m) - math.floor(min(ys) / cell_m) + 1
    if columns * rows > MAX_CELLS:
        detail = (
            f"a grid of {columns * rows:,} cells is over the cap of {MAX_CELLS:,}: "
            "use larger cells or a smaller box"
        )
        raise InvalidInput(detail, "query:cell_m")
    return replace(grid, cells=columns * rows)


async def heatmap(
    session: AsyncSession, box: Box, grid: Grid, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Non-empty cells as GeoJSON Features with `count`: reports in the box and [since, until)."""
    where, params = box_sql("p.geom", box)
    statement = text(HEATMAP.format(box=where))
    values = {**params, **grid.params(), "since": since, "until": until}
    rows = (await session.execute(statement, values)).all()
    if not rows:
        return []
    i = np.array([row.i for row in rows], dtype=float)
    j = np.array([row.j for row in rows], dtype=float)
    xs = np.stack([i, i + 1, i + 1, i, i]) * grid.cell_m  # corners, counter-clockwise
    ys = np.stack([j, j, j + 1, j + 1, j]) * grid.cell_m
    lons, lats = equal_area(grid.proj()).transform(xs, ys, direction="INVERSE")
    return [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [np.round(np.column_stack([lons[:, k], lats[:, k]]), 7).tolist()],
            },
            "properties": {"count": row.n, "i": row.i, "j": row.j},
        }
        for k, row in enumerate(rows)
    ]


# Baseline window k = 0, 1, ... is [since - (k + 1) L, since - k L); k = -1 is the window asked
# about. Windows with no alert count as zeros through the sums (mean and variance over K).
ANOMALIES = text("""
WITH counted AS (
    SELECT zone_id,
           CASE WHEN opened_at >= :since THEN -1
                ELSE ceil(extract(epoch FROM :since - opened_at) / :window_s)::int - 1 END AS k,
           count(*) AS n
    FROM alerts
    WHERE opened_at >= :baseline_start AND opened_at < :until
      AND (CAST(:kind AS text) IS NULL OR kind = CAST(:kind AS text))
    GROUP BY 1, 2
),
per_zone AS (
    SELECT zone_id,
           coalesce(sum(n) FILTER (WHERE k = -1), 0)::bigint AS alerts,
           coalesce(sum(n) FILTER (WHERE k >= 0), 0)::float8 / :windows AS mean,
           coalesce(sum(n * n) FILTER (WHERE k >= 0), 0)::float8 / :windows AS mean_square
    FROM counted GROUP BY zone_id
),
scored AS (
    SELECT p.zone_id, p.alerts, p.mean,
           sqrt(greatest(p.mean_square - p.mean * p.mean, 0)) AS stddev
    FROM per_zone p
)
SELECT s.*, z.name, z.category, z.archived_at,
       (s.alerts - s.mean) / greatest(s.stddev, sqrt(s.mean), 1) AS z_score
FROM scored s JOIN zones z ON z.id = s.zone_id
ORDER BY z_score DESC, z.name, s.zone_id
""")


@dataclass(frozen=True)
class Baseline:
    """The windows a zone's alerts are compared with: `windows` of the asked length before it."""

    since: datetime
    until: datetime
    windows: int

    @property
    def start(self) -> datetime:
        """Where the earliest baseline window begins."""
        return self.since - self.windows * (self.until - self.since)


def plan_baseline(since: datetime, until: datetime, baseline_days: int) -> Baseline:
    """The whole windows of the asked length that fit in baseline_days; InvalidInput if none."""
    windows = int(timedelta(days=baseline_days) / (until - since))
    if windows < 1:
        raise InvalidInput(
            "baseline_days must hold at least one window as long as until - since",
            "query:baseline_days",
        )
    return Baseline(since=since, until=until, windows=windows)


async def zone_anomalies(
    session: AsyncSession, baseline: Baseline, threshold: float, kind: str | None = None
) -> list[dict[str, Any]]:
    """Zones with alerts (of `kind`, or any) in the window or its baseline, most anomalous
    first."""
    params = {
        "kind": kind,
        "since": baseline.since,
        "until": baseline.until,
        "baseline_start": baseline.start,
        "window_s": (baseline.until - baseline.since).total_seconds(),
        "windows": baseline.windows,
    }
    rows = await session.execute(ANOMALIES, params)
    return [
        {
            "zone_id": str(r.zone_id),
            "name": r.name,
            "category": r.category,
            "archived": r.archived_at is not None,
            "alerts": r.alerts,
            "baseline_mean": r.mean,
            "baseline_stddev": r.stddev,
            "z_score": r.z_score,
            "anomalous": r.z_score >= threshold,
        }
        for r in rows
    ]
