"""The oracle: which zone each report breaches, decided apart from the engine.

Position: shapely `covers` of the zone's own polygons (the Feature's geometry as given; a circle
as the geodesic polygon skyguard documents it stores), queried through an STRtree of whole
zones with the `covered_by` predicate: none of the engine's index, part splitting or prepared
predicates. The band, time and exemption rules are the documented ones, reused from the engine
(`ZoneSpec.applies_at`, `band_excess`, `is_exempt`), as the brief allows.

A breach is what opens a breach alert. The engine's alerts are then compared as sets of
(drone, zone) pairs breached by at least one report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod

from skyguard.bench.ingest_engine import engine_spec
from skyguard.bench.ingest_workload import Workload
from skyguard.bench.ingest_zones import METRES_PER_DEGREE_LON
from skyguard.geofence.breach import band_excess, is_exempt
from skyguard.geofence.index import Exemption
from skyguard.geofence.shapes import Area
from skyguard.geofence.zones import ZoneSpec

NEAR_M = 200.0
GEOD = Geod(ellps="WGS84")
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Pair = tuple[int, int]


@dataclass(frozen=True)
class Verdicts:
    """Every (report, zone) pair where the zone covers the report, and whether it breaches."""

    report: IntArray  # index into the stream
    zone: IntArray
    breach: BoolArray
    near_share: float  # reports inside a zone or within NEAR_M of one
    inside_share: float  # reports inside a zone (before band, time and exemption rules)
    breach_share: float  # reports that breach some zone


def rule_specs(workload: Workload) -> list[ZoneSpec]:
    """Each zone's band and timing as a ZoneSpec (its area is the oracle's own shape)."""
    specs = []
    for zone, shape in zip(workload.zones, workload.shapes, strict=True):
        kind = "circle" if zone.kind == "circle" else "multipolygon"
        centre = tuple(zone.feature["geometry"]["coordinates"]) if kind == "circle" else None
        radius = zone.feature["properties"].get("radius_m")
        area = Area(shape, kind, centre, radius)  # type: ignore[arg-type]
        specs.append(engine_spec(zone.feature).with_changes(area=area))
    return specs


def exemptions_by_pair(workload: Workload) -> dict[Pair, list[Exemption]]:
    """The workload's exemptions keyed by (zone, drone)."""
    found: defaultdict[Pair, list[Exemption]] = defaultdict(list)
    for e in workload.exemptions:
        found[(e.zone, e.drone)].append(
            Exemption("any", e.valid_from, e.valid_until, e.floor_m, e.ceiling_m)
        )
    return found


def covered(workload: Workload) -> tuple[IntArray, IntArray]:
    """(report, zone) index arrays where the zone's polygons cover the report's position."""
    tree = shapely.STRtree(np.array(workload.shapes, dtype=object))
    points = shapely.points(workload.stream.lon, workload.stream.lat)
    hits = tree.query(points, predicate="covered_by")
    order = np.lexsort((hits[1], hits[0]))
    return hits[0][order].astype(np.int64), hits[1][order].astype(np.int64)


def breaches(workload: Workload, reports: IntArray, zones: IntArray) -> BoolArray:
    """For each covered pair: do the band, time window/schedule and exemption rules let it alert?"""
    specs = rule_specs(workload)
    exempted = exemptions_by_pair(workload)
    s = workload.stream
    out = np.zeros(len(reports), dtype=np.bool_)
    for i, (r, z) in enumerate(zip(reports.tolist(), zones.tolist(), strict=True)):
        spec = specs[z]
        at = workload.t0 + timedelta(microseconds=int(s.t_us[r]))
        height = None if math.isnan(s.height_m[r]) else float(s.height_m[r])
        alt = float(s.alt_m[r])
        if band_excess(spec, alt, height)[0] > 0.0 or not spec.applies_at(at):
            continue
        altitude = height if spec.altitude_ref == "AGL" else alt
        out[i] = not is_exempt(exempted.get((z, int(s.drone[r])), []), at, altitude)[0]
    return out


def near_share(workload: Workload, inside: BoolArray) -> float:
    """The share of reports inside a zone or within NEAR_M of one (geodesic metres between the
    report and the zone's nearest point in lon/lat)."""
    s = workload.stream
    shapes = np.array(workload.shapes, dtype=object)
    points = shapely.points(s.lon, s.lat)
    outside = np.flatnonzero(~inside)
    degrees = NEAR_M / (METRES_PER_DEGREE_LON * np.cos(np.radians(s.lat[outside])))
    hits = shapely.STRtree(shapes).query(points[outside], "dwithin", distance=degrees)
    lines = shapely.shortest_line(shapes[hits[1]], points[outside][hits[0]])
    start, end = shapely.get_point(lines, 0), shapely.get_point(lines, 1)
    _, _, metres = GEOD.inv(
        shapely.get_x(start), shapely.get_y(start), shapely.get_x(end), shapely.get_y(end)
    )
    near = np.unique(hits[0][np.asarray(metres) <= NEAR_M])
    return (int(inside.sum()) + len(near)) / max(1, len(s))


def judge(workload: Workload) -> Verdicts:
    """The oracle's verdicts on the whole stream."""
    reports, zones = covered(workload)
    breach = breaches(workload, reports, zones)
    inside = np.zeros(len(workload.stream), dtype=np.bool_)
    inside[reports] = True
    total = max(1, len(workload.stream))
    return Verdicts(
        reports,
        zones,
        breach,
        near_share(workload, inside),
        float(inside.sum()) / total,
        len(np.unique(reports[breach])) / total,
    )


def breached_pairs(verdicts: Verdicts, workload: Workload, processed: BoolArray) -> set[Pair]:
    """(drone, zone) pairs breached by at least one processed report."""
    keep = verdicts.breach & processed[verdicts.report]
    drones = workload.stream.drone[verdicts.report[keep]]
    return set(zip(drones.tolist(), verdicts.zone[keep].tolist(), strict=True))


def covered_pairs(verdicts: Verdicts, processed: BoolArray) -> set[Pair]:
    """(report, zone) pairs where the zone covers a processed report (geometry only)."""
    keep = processed[verdicts.report]
    return set(zip(verdicts.report[keep].tolist(), verdicts.zone[keep].tolist(), strict=True))
