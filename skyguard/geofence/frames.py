"""Local metric frames: a zone seen in an azimuthal-equidistant projection centred on it.

Distances and segment crossings are computed in metres in such a frame, never in
degrees. Within a few hundred kilometres of the centre its scale error stays under 0.1 %, and a
distance is finally measured on the WGS84 ellipsoid (pyproj.Geod) between the point and the
nearest boundary point found in the frame. A zone split at the antimeridian is unwrapped into
one continuous shape before it is projected, so it has a single frame like any other zone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from pyproj.enums import TransformDirection
from shapely.geometry import LineString, MultiPolygon
from shapely.geometry.base import BaseGeometry

from skyguard.geofence.reports import BoolArray, FloatArray
from skyguard.geofence.shapes import wgs84

# Frame centres snap to this grid so that neighbouring zones share one cached Transformer.
CENTRE_GRID_DEG = 0.01
# Edges are densified before projection so the projected shape follows the lon/lat edges.
LONLAT_STEP_DEG = 0.01
# Zones spanning at most this many degrees measure distances in a flat frame (FlatZone).
FLAT_MAX_SPAN_DEG = 0.5
# A flat boundary with more vertices than this is prepared (indexed) for nearest points.
PREPARE_OVER_VERTICES = 200
_WGS84_A = 6_378_137.0
_WGS84_E2 = (1.0 / 298.257223563) * (2.0 - 1.0 / 298.257223563)


@functools.lru_cache(maxsize=4096)
def _transformer(lon0: float, lat0: float) -> Transformer:
    """An azimuthal-equidistant projection on WGS84 centred at (lon0, lat0), built once."""
    return Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84"
    )


def wrap_lon(lons: FloatArray) -> FloatArray:
    """Longitudes brought back into [-180, 180], leaving values already in range untouched."""
    inside = (lons >= -180.0) & (lons <= 180.0)
    return np.where(inside, lons, (lons + 180.0) % 360.0 - 180.0)


@dataclass(frozen=True)
class Frame:
    """An azimuthal-equidistant frame in metres around (lon0, lat0)."""

    lon0: float
    lat0: float

    @classmethod
    def at(cls, lon: float, lat: float) -> Frame:
        """The frame centred on the grid point nearest to (lon, lat)."""
        snap = 1.0 / CENTRE_GRID_DEG
        return cls(round(lon * snap) / snap, round(lat * snap) / snap)

    def forward(self, lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Project lon/lat arrays to x/y metres."""
        x, y = _transformer(self.lon0, self.lat0).transform(lons, lats)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def inverse(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Unproject x/y metres to lon/lat, longitudes kept within 180° of the centre."""
        transformer = _transformer(self.lon0, self.lat0)
        lons, lats = transformer.transform(x, y, direction=TransformDirection.INVERSE)
        lons = self.lon0 + (np.asarray(lons, dtype=np.float64) - self.lon0 + 180.0) % 360.0 - 180.0
        return lons, np.asarray(lats, dtype=np.float64)

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        """A lon/lat geometry in this frame."""
        return shapely.transform(geometry, _columns(self.forward))

    def unproject(self, geometry: BaseGeometry) -> BaseGeometry:
        """A geometry of this frame back in lon/lat, continuous across the antimeridian."""
        return shapely.transform(geometry, _columns(self.inverse))


def _columns(
    function: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
) -> Callable[[FloatArray], FloatArray]:
    """Adapt a two-array coordinate function to shapely.transform's (n, 2) array form."""
    return lambda xy: np.column_stack(function(xy[:, 0], xy[:, 1]))


@dataclass(frozen=True)
class Stretch:
    """Where a segment runs inside a zone: fractions along it and the lon/lat they mark."""

    start: float
    end: float
    entry: tuple[float, float]
    exit: tuple[float, float]
    middle: tuple[float, float]


class ProjectedZone:
    """A zone's shape in its own metric frame, for distances and segment crossings."""

    def __init__(self, shape: MultiPolygon) -> None:
        """Unwrap, densify and project the shape once; prepare it for repeated queries."""
        continuous = unwrap_antimeridian(shape)
        centre = continuous.centroid
        self.frame = Frame.at(float(wrap_lon(np.array([centre.x]))[0]), centre.y)
        self.shape = self.frame.project(shapely.segmentize(continuous, LONLAT_STEP_DEG))
        self.boundary = self.shape.boundary
        shapely.prepare(self.shape)
        shapely.prepare(self.boundary)

    def signed_distance_m(
        self, lons: FloatArray, lats: FloatArray, inside: BoolArray
    ) -> FloatArray:
        """Geodesic metres from each point to the boundary: positive inside, negative outside."""
        if len(lons) == 0:
            return np.zeros(0)
        x, y = self.frame.forward(lons, lats)
        # The prepared boundary goes first: GEOS then uses its index for the nearest points.
        lines = shapely.shortest_line(self.boundary, shapely.points(x, y))
        nearest = shapely.get_coordinates(lines)[0::2]
        near_lons, near_lats = self.frame.inverse(nearest[:, 0], nearest[:, 1])
        _, _, distance = wgs84().inv(lons, lats, near_lons, near_lats)
        distance = np.asarray(distance, dtype=np.float64)
        return np.where(inside, distance, -distance)

    def stretches(self, lon0: float, lat0: float, lon1: float, lat1: float) -> list[Stretch]:
        """The runs of the straight segment (lon0, lat0) -> (lon1, lat1) that lie in the zone."""
        x, y = self.frame.forward(np.array([lon0, lon1]), np.array([lat0, lat1]))
        start, step = np.array([x[0], y[0]]), np.array([x[1] - x[0], y[1] - y[0]])
        length2 = float(step @ step)
        if length2 == 0.0:
            return []
        overlap = shapely.intersection(LineString(np.column_stack([x, y])), self.shape)
        runs = []
        for part in shapely.get_parts(overlap):
            if part.is_empty:
                continue
            fractions = np.clip((shapely.get_coordinates(part) - start) @ step / length2, 0, 1)
            runs.append((float(fractions.min()), float(fractions.max())))
        runs.sort()
        return [self._stretch(start, step, a, b) for a, b in runs]

    def _stretch(self, start: FloatArray, step: FloatArray, a: float, b: float) -> Stretch:
        """A Stretch between fractions a and b of the projected segment."""
        fractions = np.array([a, b, (a + b) / 2.0])
        lons, lats = self.frame.inverse(
            start[0] + fractions * step[0], start[1] + fractions * step[1]
        )
        lons = wrap_lon(lons)
        points = [(float(lon), float(lat)) for lon, lat in zip(lons, lats, strict=True)]
        return Stretch(a, b, points[0], points[1], points[2])


@dataclass(frozen=True)
class FlatZone:
    """A small zone's boundary in a local equirectangular frame: degrees from its centre
    scaled to metres there. The map is affine in lon/lat, so the zone's edges stay straight
    and every point of a batch can be measured against its zone in one vectorised pass.

    Only the nearest boundary point is found in the frame; the distance itself is geodesic.
    Across a zone at most FLAT_MAX_SPAN_DEG wide the frame's scale drifts by under 1 %, which
    can pick a boundary point beside the true nearest one, moving a distance by its second
    order: centimetres at a few kilometres.
    """

    lon0: float
    lat0: float
    kx: float  # metres per degree of longitude at lat0
    ky: float  # metres per degree of latitude at lat0
    boundary: BaseGeometry

    @classmethod
    def of(cls, shape: MultiPolygon) -> FlatZone | None:
        """The zone's flat frame, or None when it is too wide for one."""
        continuous = unwrap_antimeridian(shape)
        west, south, east, north = continuous.bounds
        if east - west > FLAT_MAX_SPAN_DEG or north - south > FLAT_MAX_SPAN_DEG:
            return None
        lon0, lat0 = (west + east) / 2.0, (south + north) / 2.0
        sin_lat = np.sin(np.radians(lat0))
        w = np.sqrt(1.0 - _WGS84_E2 * sin_lat**2)
        kx = float(np.radians(1.0) * _WGS84_A / w * np.cos(np.radians(lat0)))
        ky = float(np.radians(1.0) * _WGS84_A * (1.0 - _WGS84_E2) / w**3)
        boundary = shapely.transform(continuous.boundary, lambda xy: (xy - (lon0, lat0)) * (kx, ky))
        if shapely.get_num_coordinates(boundary) > PREPARE_OVER_VERTICES:
            shapely.prepare(boundary)  # an index of its edges: memory, paid back on big shapes
        return cls(lon0, lat0, kx, ky, boundary)


def flat_signed_distances(
    zones: Sequence[FlatZone], lons: FloatArray, lats: FloatArray, inside: BoolArray
) -> FloatArray:
    """Geodesic metres from each point to its zone's boundary (zones[i] for point i), signed
    positive inside; one vectorised pass over every pair."""
    if not zones:
        return np.zeros(0)
    lon0 = np.fromiter((z.lon0 for z in zones), np.float64, len(zones))
    lat0 = np.fromiter((z.lat0 for z in zones), np.float64, len(zones))
    kx = np.fromiter((z.kx for z in zones), np.float64, len(zones))
    ky = np.fromiter((z.ky for z in zones), np.float64, len(zones))
    x = ((lons - lon0 + 180.0) % 360.0 - 180.0) * kx
    y = (lats - lat0) * ky
    boundaries = np.fromiter((z.boundary for z in zones), object, len(zones))
    # The prepared boundary goes first: GEOS then uses its index for the nearest points.
    lines = shapely.shortest_line(boundaries, shapely.points(x, y))
    nearest = shapely.get_coordinates(lines)[0::2]
    near_lons = wrap_lon(lon0 + nearest[:, 0] / kx)
    near_lats = lat0 + nearest[:, 1] / ky
    _, _, distance = wgs84().inv(lons, lats, near_lons, near_lats)
    distance = np.asarray(distance, dtype=np.float64)
    return np.where(inside, distance, -distance)


def unwrap_antimeridian(shape: BaseGeometry) -> BaseGeometry:
    """A shape split at the antimeridian as one continuous shape east of 180°; others as is."""
    min_lon, _, max_lon, _ = shape.bounds
    if not (min_lon <= -180.0 and max_lon >= 180.0):
        return shape
    moved = shapely.transform(
        shape,
        lambda xy: np.column_stack([np.where(xy[:, 0] < 0, xy[:, 0] + 360.0, xy[:, 0]), xy[:, 1]]),
    )
    return shapely.union_all(shapely.get_parts(moved))
