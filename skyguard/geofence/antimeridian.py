"""Antimeridian handling per RFC 7946 §3.1.9: detect a crossing ring, unwrap it, split it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

Coordinates = npt.NDArray[np.float64]

# (western edge of a 360° wide box, longitude shift that brings it back into [-180, 180])
_WORLD_COPIES = ((-540.0, 360.0), (-180.0, 0.0), (180.0, -360.0))
# A cut computed on x = ±180 may land a few ulps off it; snap those back onto the meridian.
_SNAP_DEG = 1e-9


def crosses_antimeridian(rings: Sequence[Coordinates]) -> bool:
    """Tell whether any ring jumps more than 180° in longitude between consecutive positions."""
    for ring in rings:
        west, east = ring[:-1, 0], ring[1:, 0]
        # -180 -> 180 is an edge along the antimeridian itself (a whole-world box), not a crossing.
        on_meridian = (np.abs(west) == 180.0) & (np.abs(east) == 180.0)
        if np.any((np.abs(east - west) > 180.0) & ~on_meridian):
            return True
    return False


def unwrap_longitudes(ring: Coordinates) -> Coordinates:
    """Add 360° to negative longitudes so a crossing ring becomes continuous east of 180."""
    unwrapped = ring.copy()
    unwrapped[:, 0] = np.where(ring[:, 0] < 0.0, ring[:, 0] + 360.0, ring[:, 0])
    return unwrapped


def split_antimeridian(polygon: Polygon) -> list[Polygon]:
    """Cut a polygon whose longitudes leave [-180, 180] into CCW parts that lie within it."""
    min_lon, _, max_lon, _ = polygon.bounds
    if min_lon >= -180.0 and max_lon <= 180.0:
        return [polygon]
    parts: list[Polygon] = []
    for west, shift in _WORLD_COPIES:
        piece = polygon.intersection(shapely.box(west, -90.0, west + 360.0, 90.0))
        moved = shapely.transform(piece, lambda xy, shift=shift: _shift_lon(xy, shift))
        parts.extend(_polygon_parts(moved))
    return [orient(part, 1.0) for part in parts]


def _shift_lon(xy: Coordinates, shift: float) -> Coordinates:
    """Shift longitudes by a multiple of 360° and snap values a rounding away from ±180."""
    lon = xy[:, 0] + shift
    near_meridian = np.abs(np.abs(lon) - 180.0) < _SNAP_DEG
    lon = np.where(near_meridian, np.copysign(180.0, lon), lon)
    return np.column_stack([lon, xy[:, 1]])


def _polygon_parts(geometry: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons of an overlay result, dropping the lines and points it may hold."""
    return [
        part
        for part in shapely.get_parts(geometry)
        if isinstance(part, Polygon) and not part.is_empty and part.area > 0.0
    ]
