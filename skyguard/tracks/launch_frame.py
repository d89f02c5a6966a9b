"""A flight's local metric frame: metres east (x) and north (y) of its first fix.

The frame is azimuthal equidistant, computed with WGS84 geodesics (pyproj.Geod): a point's x, y
are its geodesic distance from the origin along the geodesic's azimuth there. One Geod serves
every flight, so no projection object is built per flight or per call.
"""

from __future__ import annotations

import numpy as np

from skyguard.geofence.reports import FloatArray
from skyguard.geofence.shapes import wgs84


def to_local(
    lon0: float, lat0: float, lons: FloatArray, lats: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Metres east and north of (lon0, lat0) of some lon/lat points."""
    lons = np.asarray(lons, dtype=np.float64)
    lats = np.asarray(lats, dtype=np.float64)
    azimuth_deg, _, distance_m = wgs84().inv(
        np.full(lons.shape, lon0), np.full(lats.shape, lat0), lons, lats
    )
    azimuth = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    distance = np.asarray(distance_m, dtype=np.float64)
    return distance * np.sin(azimuth), distance * np.cos(azimuth)


def to_lonlat_all(
    lon0s: FloatArray, lat0s: FloatArray, xs_m: FloatArray, ys_m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """to_lonlat of many points, each in its own frame, in one geodesic computation."""
    distance_m = np.hypot(xs_m, ys_m)
    azimuth_deg = np.degrees(np.arctan2(xs_m, ys_m))
    lons, lats, _ = wgs84().fwd(lon0s, lat0s, azimuth_deg, distance_m)
    at_origin = distance_m == 0.0
    lons = np.where(at_origin, lon0s, np.asarray(lons, dtype=np.float64))
    lats = np.where(at_origin, lat0s, np.asarray(lats, dtype=np.float64))
    return lons, lats


def to_lonlat(lon0: float, lat0: float, x_m: float, y_m: float) -> tuple[float, float]:
    """The lon/lat of the point x_m east and y_m north of (lon0, lat0)."""
    distance_m = float(np.hypot(x_m, y_m))
    if distance_m == 0.0:
        return lon0, lat0
    azimuth_deg = float(np.degrees(np.arctan2(x_m, y_m)))
    lon, lat, _ = wgs84().fwd(lon0, lat0, azimuth_deg, distance_m)
    return float(lon), float(lat)
