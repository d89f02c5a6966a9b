"""Statistics for reviewers: per district, trends, heatmaps and zones alerting above their past."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from skyguard.api.deps import ReaderKey, SessionDep
from skyguard.api.history import BBox, required_bbox
from skyguard.api.windows import Since, Until, resolve_window, window_json
from skyguard.store import district_stats as district_counts
from skyguard.store import stats
from skyguard.store.zones import iso_utc

router = APIRouter(prefix="/v1/stats", tags=["statistics"])


@router.get("/districts", summary="Activity per district")
async def district_stats(
    caller: ReaderKey, session: SessionDep, since: Since = None, until: Until = None
) -> dict[str, Any]:
    """Per district, by name, in [since, until) (default: the last 24 hours); zeros included.

    `flights`: flights with at least one report in the district in the window; `drones`:
    distinct drones with a report there; `unregistered_drones`: those not registered;
    `alerts`: alerts opened in the window whose entry point lies in the district. A report on
    a district's boundary counts as inside it (and in each district sharing that boundary).

    Closed UTC hours come from an hourly rollup that every worker's background loop refreshes
    each `SKYGUARD_ROLLUP_INTERVAL_S` (30 s by default), newest hours first, a couple of minutes
    after they end; the rest of the window (partial hours at its edges, the current hour, hours
    not rolled yet or rolled before a district was created) is counted from the reports. A
    report arriving over 6 hours after its hour is not in the rollup.
    """
    start, end = resolve_window(since, until)
    rows = await district_counts.district_stats(session, start, end)
    return {**window_json(start, end), "districts": rows}


@router.get("/trend", summary="Flights and alerts per hour or day")
async def trend(
    caller: ReaderKey,
    session: SessionDep,
    bucket: Annotated[Literal["hour", "day"], Query(description="hour or day, in UTC.")] = "hour",
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Flights (counted by start time) and alerts (by opening time) per UTC hour or day.

    Every bucket from the one holding `since` to the one holding the last instant before
    `until` is listed, zeros included; buckets start on UTC hours or midnights, and only events
    within [since, until) count, so the first and last may be partial. Default window: the last
    24 hours; at most 10,000 buckets (422 on `query:bucket`).
    """
    start, end = resolve_window(since, until)
    buckets = await stats.trend(session, bucket, start, end)
    return {**window_json(start, end), "bucket": bucket, "buckets": buckets}


@router.get("/heatmap", summary="Report counts on a square grid")
async def heatmap(
    caller: ReaderKey,
    session: SessionDep,
    bbox: BBox,
    cell_m: Annotated[
        float, Query(ge=25, le=100_000, description="Cell side in metres (25 to 100,000).")
    ] = 500.0,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Reports in the box (edges included) and [since, until) counted per square grid cell.

    Cells are `cell_m` squares in a spherical Lambert azimuthal equal-area projection (radius
    6,371,007.181 m, the sphere of WGS84's area) centred on the whole degrees nearest the box's
    centre (`projection`, a PROJ string): every cell has the same area, so counts compare as
    densities, and within 10° of the centre shapes are true to 0.4%. The grid is anchored at
    the projection's centre, so boxes sharing it share cells. Each non-empty cell is a Feature:
    a Polygon of the cell's four corners in lon/lat, with `count` and its grid indices `i`, `j`.
    Every report in the box and window is in exactly one cell: the counts add up to `total`.
    The box spans at most 20° (422 on `query:bbox`); a grid over 250,000 cells is refused (422
    on `query:cell_m`). Default window: the last 24 hours.
    """
    start, end = resolve_window(since, until)
    box = required_bbox(bbox)
    grid = stats.plan_grid(box, cell_m)
    cells = await stats.heatmap(session, box, grid, start, end)
    return {
        "type": "FeatureCollection",
        "features": cells,
        "total": sum(c["properties"]["count"] for c in cells),
        "cell_m": cell_m,
        "projection": grid.proj(),
        **window_json(start, end),
    }


@router.get("/zones/anomalies", summary="Zones alerting well above their own past")
async def zone_anomalies(
    caller: ReaderKey,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    baseline_days: Annotated[
        int, Query(ge=1, le=366, description="Days before `since` the baseline covers.")
    ] = 28,
    threshold: Annotated[
        float, Query(gt=0, le=100, description="z-score at or above which a zone is anomalous.")
    ] = 3.0,
    kind: Annotated[
        Literal["breach", "approach"] | None,
        Query(description="Count only alerts of this kind (default: every kind)."),
    ] = None,
) -> dict[str, Any]:
    """Alerts per zone in [since, until) against the same-length windows before it.

    The baseline is the K = floor(baseline_days / (until - since)) windows of the same length
    right before `since` (windows without alerts count as zero); `baseline_mean` and
    `baseline_stddev` (population) are over those K. z_score = (alerts - mean) /
    max(stddev, sqrt(mean), 1): the square root is the Poisson noise of the mean, and the floor
    of 1 means a zone with no baseline needs `threshold` alerts (3 by default) to stand out. A
    zone is `anomalous` when z_score >= threshold. Every alert kind counts unless `kind` names
    one (`breach`: drones inside; `approach`: drones in a warning buffer). Zones with an alert in
    the window or the baseline are listed, highest z_score first. Default window: the last 24
    hours; a baseline shorter than one window is refused (422 on `query:baseline_days`).
    """
    start, end = resolve_window(since, until)
    baseline = stats.plan_baseline(start, end, baseline_days)
    zones = await stats.zone_anomalies(session, baseline, threshold, kind)
    return {
        **window_json(start, end),
        "kind": kind,
        "baseline_windows": baseline.windows,
        "baseline_since": iso_utc(baseline.start),
        "threshold": threshold,
        "zones": zones,
    }
