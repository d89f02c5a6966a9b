"""The ingest benchmark's drones: 1 Hz tracks, three in ten flown past or around a zone.

A *visitor* drone is laid around a point of its target zone's boundary (up to 150 m off it):
three in four fly straight through it at 5-20 m/s with a wandering heading, one in four loiters
in a small circle across the boundary (in, out, in: the hysteresis case). The other drones fly
the same way 1.5-12 km from a zone, placed where no zone lies within 1.5 km of them. A third of
the drones start on the ground and climb, the rest are first seen in the air; one in ten is
non-cooperative and reports no height above ground, only altitude (AMSL). Positions carry GPS
noise. Every drone reports every second from a random sub-second phase, for the same duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon

from skyguard.bench.ingest_zones import (
    METRES_PER_DEGREE_LAT,
    METRES_PER_DEGREE_LON,
    Rng,
    ZonePlan,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
VISITOR_SHARE = 0.3
LOITER_SHARE = 0.25
GROUND_START_SHARE = 0.3
NON_COOPERATIVE_SHARE = 0.1
CLEARANCE_M = 1_500.0
GPS_NOISE_M = 1.5


@dataclass(frozen=True)
class Stream:
    """Every report of the workload in time order, as columns (height NaN: not reported)."""

    drone: IntArray
    t_us: IntArray  # microseconds after the stream's t0
    lon: FloatArray
    lat: FloatArray
    alt_m: FloatArray
    height_m: FloatArray
    speed_mps: FloatArray
    heading_deg: FloatArray

    def __len__(self) -> int:
        """The number of reports."""
        return len(self.drone)


@dataclass(frozen=True)
class Fleet:
    """Per drone: its target zone (-1: none), ground elevation and where it is laid."""

    target: IntArray
    ground_m: FloatArray
    anchor_lon: FloatArray
    anchor_lat: FloatArray


def largest_rings(shapes: list[MultiPolygon]) -> Any:
    """The exterior ring of each shape's largest part."""
    return np.array([max(s.geoms, key=lambda p: p.area).exterior for s in shapes], dtype=object)


def metres_to_degrees(lat: FloatArray, east_m: Any, north_m: Any) -> tuple[FloatArray, FloatArray]:
    """Degrees of longitude and latitude for metre offsets at each latitude."""
    scale = METRES_PER_DEGREE_LON * np.cos(np.radians(lat))
    return np.asarray(east_m) / scale, np.asarray(north_m) / METRES_PER_DEGREE_LAT


def visitor_anchors(
    rng: Rng, shapes: list[MultiPolygon], targets: IntArray
) -> tuple[FloatArray, FloatArray]:
    """A point of each target zone's boundary, moved up to 150 m in a random direction."""
    rings = largest_rings(shapes)[targets]
    points = shapely.line_interpolate_point(rings, rng.random(len(targets)), normalized=True)
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    distance, azimuth = (
        150.0 * np.sqrt(rng.random(len(targets))),
        rng.uniform(0, 2 * math.pi, len(targets)),
    )
    dlon, dlat = metres_to_degrees(lat, distance * np.sin(azimuth), distance * np.cos(azimuth))
    return lon + dlon, lat + dlat


def clear_anchors(
    rng: Rng, shapes: list[MultiPolygon], count: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Points 1.5-12 km from a random zone with no zone within 1.5 km, and that zone."""
    tree = shapely.STRtree(np.array(shapes, dtype=object))
    centres = shapely.centroid(np.array(shapes, dtype=object))
    lon, lat = np.zeros(count), np.zeros(count)
    near = np.zeros(count, dtype=np.int64)
    pending = np.arange(count)
    for attempt in range(30):
        zone = rng.integers(len(shapes), size=len(pending))
        distance = rng.uniform(CLEARANCE_M, 12_000.0, len(pending))
        azimuth = rng.uniform(0, 2 * math.pi, len(pending))
        base_lat = shapely.get_y(centres[zone])
        dlon, dlat = metres_to_degrees(
            base_lat, distance * np.sin(azimuth), distance * np.cos(azimuth)
        )
        lon[pending], lat[pending] = shapely.get_x(centres[zone]) + dlon, base_lat + dlat
        near[pending] = zone
        if attempt == 29:
            break
        degrees = CLEARANCE_M / (METRES_PER_DEGREE_LON * np.cos(np.radians(lat[pending])))
        hits = tree.query(shapely.points(lon[pending], lat[pending]), "dwithin", distance=degrees)
        pending = pending[np.unique(hits[0])]
        if len(pending) == 0:
            break
    return lon, lat, near


def plan_fleet(rng: Rng, zones: list[ZonePlan], shapes: list[MultiPolygon], drones: int) -> Fleet:
    """Which drones visit which zone, where each is laid, and the ground under it."""
    visitor = rng.random(drones) < VISITOR_SHARE
    target = np.where(visitor, rng.integers(len(zones), size=drones), -1)
    lon, lat = np.zeros(drones), np.zeros(drones)
    lon[visitor], lat[visitor] = visitor_anchors(rng, shapes, target[visitor])
    others = np.flatnonzero(~visitor)
    lon[others], lat[others], home = clear_anchors(rng, shapes, len(others))
    grounds = np.array([zone.ground_m for zone in zones])
    ground = np.where(visitor, grounds[np.maximum(target, 0)], 0.0)
    ground[others] = grounds[home] + rng.uniform(-50, 50, len(others))
    return Fleet(target, np.asarray(np.round(ground, 1), dtype=np.float64), lon, lat)


def straight_motion(rng: Rng, drones: int, steps: int) -> tuple[FloatArray, ...]:
    """East and north metres, speed and heading of drones flying on with a wandering heading."""
    heading = rng.uniform(0, 360, (drones, 1)) + np.cumsum(
        rng.normal(0, 2.0, (drones, steps)), axis=1
    )
    speed = np.clip(rng.uniform(5, 20, (drones, 1)) + rng.normal(0, 0.3, (drones, steps)), 3, 22)
    radians = np.radians(heading)
    east = np.cumsum(speed * np.sin(radians), axis=1) - speed[:, :1] * np.sin(radians[:, :1])
    north = np.cumsum(speed * np.cos(radians), axis=1) - speed[:, :1] * np.cos(radians[:, :1])
    middle = steps // 2
    return (
        east - east[:, middle : middle + 1],
        north - north[:, middle : middle + 1],
        speed,
        heading % 360,
    )


def loiter_motion(rng: Rng, drones: int, steps: int) -> tuple[FloatArray, ...]:
    """East and north metres, speed and heading of drones circling their anchor."""
    radius = rng.uniform(30, 150, (drones, 1))
    speed = np.broadcast_to(rng.uniform(4, 10, (drones, 1)), (drones, steps))
    angle = rng.uniform(0, 2 * math.pi, (drones, 1)) + speed / radius * np.arange(steps)
    heading = (np.degrees(angle) + 90.0) % 360
    return radius * np.sin(angle), radius * np.cos(angle), np.array(speed), heading


def heights(rng: Rng, drones: int, steps: int) -> FloatArray:
    """Heights above take-off: a climb from the ground, or cruising with a slow drift."""
    cruise = rng.uniform(20, 200, (drones, 1))
    drift = np.cumsum(rng.normal(0, 0.5, (drones, steps)), axis=1)
    climb = rng.uniform(2, 4, (drones, 1)) * np.arange(steps)
    grounded = rng.random((drones, 1)) < GROUND_START_SHARE
    flown = np.where(grounded, np.minimum(climb, cruise), cruise + drift)
    return np.clip(flown + rng.normal(0, 0.5, (drones, steps)), 0.0, 500.0)


def fly(rng: Rng, fleet: Fleet, steps: int) -> Stream:
    """The drones' reports, one a second each, sorted by time."""
    drones = len(fleet.target)
    east, north, speed, heading = straight_motion(rng, drones, steps)
    loiter = (fleet.target >= 0) & (rng.random(drones) < LOITER_SHARE)
    circling = loiter_motion(rng, int(loiter.sum()), steps)
    for motion, values in zip((east, north, speed, heading), circling, strict=True):
        motion[loiter] = values
    east = east + rng.normal(0, GPS_NOISE_M, east.shape)
    north = north + rng.normal(0, GPS_NOISE_M, north.shape)
    dlon, dlat = metres_to_degrees(fleet.anchor_lat[:, None], east, north)
    height = heights(rng, drones, steps)
    alt = fleet.ground_m[:, None] + height + rng.normal(0, 1.0, height.shape)
    height[rng.random(drones) < NON_COOPERATIVE_SHARE] = np.nan
    phase_us = rng.integers(0, 1_000, drones) * 1_000  # a sub-second phase, in whole ms
    t_us = phase_us[:, None] + np.arange(steps, dtype=np.int64) * 1_000_000
    order = np.argsort(t_us.ravel(), kind="stable")

    def rounded(values: FloatArray, decimals: int) -> FloatArray:
        return np.asarray(np.round(values, decimals), dtype=np.float64).ravel()[order]

    return Stream(
        drone=np.repeat(np.arange(drones, dtype=np.int64), steps)[order],
        t_us=t_us.ravel()[order],
        lon=rounded(fleet.anchor_lon[:, None] + dlon, 7),
        lat=rounded(fleet.anchor_lat[:, None] + dlat, 7),
        alt_m=rounded(alt, 1),
        height_m=rounded(height, 1),
        speed_mps=rounded(speed, 1),
        heading_deg=rounded(heading, 1),
    )
