"""The zone index: STRtrees over zone shapes and their warning reach, built once, queried in bulk.

On the boundary counts as inside: a zone holds a point it *covers* (interior or boundary), so a
point on a vertex or an edge is in, and a point in a hole is out. Multipolygons and zones split
at the antimeridian are indexed part by part, so each part keeps a tight bounding box.

A query first takes the STRtree's bounding-box candidates, then runs one vectorised `covers`
over them with the tree's parts prepared: the same verdict as
`STRtree.query(points, predicate="covered_by")`, about three times faster on real zones,
because the predicate form prepares the query points rather than the zone polygons. Segments
are tested with the parts unprepared: a prepared polygon's index of edges for line tests cost
70 MB at ten thousand zones, for about a microsecond a candidate saved.

A warning buffer is a distance, not a polygon: a point outside a zone is in its buffer when
its geodesic distance to the zone's boundary is at most `warning_buffer_m`. The only geometry
kept for it is the zone's bounding box grown by that distance (an STRtree of boxes finds the
candidates), so a buffer costs no vertices, no build time and no memory beyond its box; the
distance is measured for candidates only, and handed on to the verdicts that need it.
Rebuilding with `previous=` reuses the metric frames of zones whose area did not change.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from shapely.geometry import MultiLineString, MultiPolygon

from skyguard.geofence.frames import FlatZone, ProjectedZone, flat_signed_distances
from skyguard.geofence.reports import BoolArray, FloatArray, IntArray
from skyguard.geofence.zones import ZoneSpec

GeometryArray = np.ndarray  # an object array of shapely geometries
PairFilter = Callable[[int, int], bool]  # (input index, zone position) -> worth testing


@dataclass(frozen=True)
class Exemption:
    """A drone may fly in the zone from valid_from (inclusive) to valid_until (exclusive)."""

    serial: str
    valid_from: datetime
    valid_until: datetime
    floor_m: float | None = None
    ceiling_m: float | None = None

    def valid_at(self, at: datetime) -> bool:
        """Whether the window holds the instant `at`."""
        return self.valid_from <= at < self.valid_until

    @property
    def banded(self) -> bool:
        """Whether the exemption is limited to an altitude band."""
        return self.floor_m is not None or self.ceiling_m is not None

    def band_contains(self, altitude_m: float) -> bool:
        """Whether the altitude lies in the exemption's band, ends included."""
        above = self.floor_m is None or altitude_m >= self.floor_m
        return above and (self.ceiling_m is None or altitude_m <= self.ceiling_m)


@dataclass(frozen=True)
class IndexedZone:
    """One zone version as the engine indexes it, with the exemptions granted in it."""

    id: uuid.UUID
    version: int
    spec: ZoneSpec
    exemptions: tuple[Exemption, ...] = ()


@dataclass(frozen=True)
class Located:
    """Which zones hold which points, as (2, n) arrays of [point index, zone position]."""

    zone: IntArray
    buffer: IntArray  # points within a warning buffer (the zone itself included)
    # signed metres to the boundary of each `buffer` pair measured outside its zone (NaN inside)
    buffer_distance: FloatArray


class _PartTree:
    """An STRtree over the polygon parts of some shapes, each part owned by a zone position."""

    def __init__(self, shapes: Iterable[tuple[int, MultiPolygon]]) -> None:
        """Split the shapes into parts, prepare them and build the tree."""
        parts: list[object] = []
        owners: list[int] = []
        for owner, shape in shapes:
            # a one-part shape is indexed as it is: its part would be a copy of every vertex
            pieces = [shape] if shapely.get_num_geometries(shape) == 1 else shapely.get_parts(shape)
            parts.extend(pieces)
            owners.extend([owner] * len(pieces))
        self.parts = np.array(parts, dtype=object)
        self.owners = np.array(owners, dtype=np.intp)
        shapely.prepare(self.parts)
        self.tree = shapely.STRtree(self.parts)
        self._parts_of: defaultdict[int, list[int]] = defaultdict(list)
        for part, owner in enumerate(owners):
            self._parts_of[owner].append(part)

    def owner_covers(self, owner: int, points: GeometryArray) -> BoolArray:
        """Whether some part of `owner` covers each point (its prepared parts, not the whole)."""
        covered = np.zeros(len(points), dtype=np.bool_)
        for part in self._parts_of.get(owner, ()):
            covered |= shapely.covers(self.parts[part], points)
        return covered

    def covering(self, points: GeometryArray) -> IntArray:
        """[point, owner] pairs where a part covers the point."""
        if len(self.parts) == 0 or len(points) == 0:
            return np.zeros((2, 0), dtype=np.intp)
        hits, parts = self.tree.query(points)
        keep = shapely.covers(self.parts[parts], points[hits])
        return _unique_pairs(hits[keep], self.owners[parts[keep]])

    def intersecting(self, lines: GeometryArray, wanted: PairFilter | None = None) -> IntArray:
        """[line, owner] pairs where a line touches or enters a part (the line goes first, so
        GEOS does not build the part's prepared index of edges for line tests). `wanted` is
        asked once per [line, owner] pair whose boxes meet, before the costlier line test."""
        if len(self.parts) == 0 or len(lines) == 0:
            return np.zeros((2, 0), dtype=np.intp)
        hits, parts = self.tree.query(lines)
        owners = self.owners[parts]
        if wanted is not None:
            answers: dict[tuple[int, int], bool] = {}  # a zone's parts share one answer
            chosen: list[bool] = []
            for pair in zip(hits.tolist(), owners.tolist(), strict=True):
                answer = answers.get(pair)
                if answer is None:
                    answer = answers[pair] = wanted(*pair)
                chosen.append(answer)
            picked = np.array(chosen, dtype=np.bool_)
            hits, parts, owners = hits[picked], parts[picked], owners[picked]
        keep = shapely.intersects(lines[hits], self.parts[parts])
        return _unique_pairs(hits[keep], owners[keep])


# Metres per degree of latitude at least (at the equator), and of longitude at the equator.
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0
_REACH_MARGIN = 1.01  # boxes are grown a little more than the buffer: they only pick candidates


class _ReachTree:
    """An STRtree of the bounding boxes of zones with a warning buffer, each grown by it.

    A box holds every point within the buffer of its part: latitudes are grown by the buffer
    at the fewest metres a degree, longitudes at the latitude of the box's edge nearest a pole.
    A box that grows over the antimeridian gets its overflow as a second box on the other side.
    """

    def __init__(self, zones: tuple[IndexedZone, ...]) -> None:
        """Grow each buffered zone's part boxes and index them."""
        boxes: list[tuple[float, float, float, float]] = []
        owners: list[int] = []
        for owner, zone in enumerate(zones):
            reach_m = zone.spec.warning_buffer_m
            if reach_m <= 0.0:
                continue
            for bounds in shapely.bounds(shapely.get_parts(zone.spec.area.shape)).tolist():
                for grown in _grown_boxes(bounds, reach_m * _REACH_MARGIN):
                    boxes.append(grown)
                    owners.append(owner)
        self.owners = np.array(owners, dtype=np.intp)
        self.tree = shapely.STRtree(shapely.box(*np.array(boxes).T) if boxes else [])

    def candidates(self, points: GeometryArray) -> IntArray:
        """[point, owner] pairs where a point lies in a box of the owner."""
        if len(self.owners) == 0 or len(points) == 0:
            return np.zeros((2, 0), dtype=np.intp)
        hits, boxes = self.tree.query(points)
        return _unique_pairs(hits, self.owners[boxes])


def _grown_boxes(bounds: list[float], reach_m: float) -> list[tuple[float, float, float, float]]:
    """The lon/lat box `bounds` grown by `reach_m` metres, cut in two at the antimeridian."""
    west, south, east, north = bounds
    dlat = reach_m / _M_PER_DEG_LAT
    south, north = max(south - dlat, -90.0), min(north + dlat, 90.0)
    polar = max(abs(south), abs(north))
    if polar >= 89.0:
        return [(-180.0, south, 180.0, north)]
    dlon = reach_m / (_M_PER_DEG_LON * math.cos(math.radians(polar)))
    west, east = west - dlon, east + dlon
    if east - west >= 360.0:
        return [(-180.0, south, 180.0, north)]
    boxes = [(max(west, -180.0), south, min(east, 180.0), north)]
    if west < -180.0:
        boxes.append((west + 360.0, south, 180.0, north))
    if east > 180.0:
        boxes.append((-180.0, south, east - 360.0, north))
    return boxes


def _unique_pairs(inputs: IntArray, owners: IntArray) -> IntArray:
    """Pairs without repeats (a point on a shared part edge), sorted by input index, then owner
    (as one number each: numpy's unique over columns costs a tenth of a millisecond a call)."""
    if len(inputs) == 0:
        return np.zeros((2, 0), dtype=np.intp)
    width = int(owners.max()) + 1
    keys = np.unique(inputs.astype(np.int64) * width + owners)
    return np.stack([keys // width, keys % width]).astype(np.intp)


class ZoneIndex:
    """Zones in force with STRtrees over their shapes and buffers; build once, query in bulk."""

    def __init__(self, zones: tuple[IndexedZone, ...], previous: ZoneIndex | None = None) -> None:
        """Index the zones; prefer ZoneIndex.build."""
        self.zones = zones
        self._positions = {zone.id: i for i, zone in enumerate(zones)}
        if len(self._positions) != len(zones):
            raise ValueError("each zone may appear once in an index")
        self._projected: dict[int, ProjectedZone] = {}
        self._flat: dict[int, FlatZone | None] = {}
        if previous is not None:
            self._keep_frames(previous)
        self._zone_tree = _PartTree((i, zone.spec.area.shape) for i, zone in enumerate(zones))
        self._reach = _ReachTree(zones)
        self._reach_m = np.array([zone.spec.warning_buffer_m for zone in zones], dtype=np.float64)
        self._exemptions = [_by_serial(zone.exemptions) for zone in zones]

    @classmethod
    def build(cls, zones: Iterable[IndexedZone], previous: ZoneIndex | None = None) -> ZoneIndex:
        """An index over the zones; unchanged zones reuse the metric frames of `previous`."""
        return cls(tuple(zones), previous)

    def _keep_frames(self, previous: ZoneIndex) -> None:
        """Carry over the frames `previous` made for zones whose area is unchanged here."""
        for position, zone in enumerate(self.zones):
            old = previous.position(zone.id)
            if old is None or not _same_area(previous.zones[old], zone):
                continue
            if old in previous._projected:
                self._projected[position] = previous._projected[old]
            if old in previous._flat:
                self._flat[position] = previous._flat[old]

    def __len__(self) -> int:
        """The number of zones indexed."""
        return len(self.zones)

    def position(self, zone_id: uuid.UUID) -> int | None:
        """The zone's position in this index, or None if it is not (or no longer) indexed."""
        return self._positions.get(zone_id)

    def exemptions_for(self, position: int, serial: str) -> tuple[Exemption, ...]:
        """The exemptions the zone at `position` grants the drone `serial`."""
        return self._exemptions[position].get(serial, ())

    def projected(self, position: int) -> ProjectedZone:
        """The zone's shape in its metric frame, projected on first use and kept."""
        projected = self._projected.get(position)
        if projected is None:
            projected = ProjectedZone(self.zones[position].spec.area.shape)
            self._projected[position] = projected
        return projected

    def signed_distances(
        self, positions: IntArray, lons: FloatArray, lats: FloatArray, inside: BoolArray
    ) -> FloatArray:
        """Signed geodesic metres from each point to the boundary of the zone at its position
        (positive inside): small zones all in one pass in their flat frames, wide zones one at
        a time in their azimuthal frames."""
        distances = np.empty(len(positions), dtype=np.float64)
        flats = [self._flat_zone(int(p)) for p in positions]
        is_flat = np.fromiter((f is not None for f in flats), np.bool_, len(flats))
        distances[is_flat] = flat_signed_distances(
            [f for f in flats if f is not None], lons[is_flat], lats[is_flat], inside[is_flat]
        )
        wide = ~is_flat
        for position in np.unique(positions[wide]):
            hit = wide & (positions == position)
            projected = self.projected(int(position))
            distances[hit] = projected.signed_distance_m(lons[hit], lats[hit], inside[hit])
        return distances

    def _flat_zone(self, position: int) -> FlatZone | None:
        """The zone's flat frame (None for a wide zone), made on first use and kept."""
        if position not in self._flat:
            self._flat[position] = FlatZone.of(self.zones[position].spec.area.shape)
        return self._flat[position]

    def warm(self) -> None:
        """Make now what point queries make on first use: GEOS's point locator for every part
        (an index of its edges, about 40 bytes a vertex) and the STRtrees. A process that forks
        its workers once the index is built does this first: the locators are made once and
        stay in pages the workers share, where each worker would make its own for every zone
        its drones come near. Metric frames for distances and crossings are left to the
        workers: they are wanted only near reports, and making every zone's would cost more
        than the workers' own."""
        parts = self._zone_tree.parts
        if len(parts) == 0:
            return
        inside = shapely.point_on_surface(parts)  # a vertex is answered without the locator
        for _ in range(2):  # GEOS builds a prepared shape's index at its second use, not its first
            shapely.covers(parts, inside)
        xy = shapely.get_coordinates(inside[:1])
        self.locate(xy[:, 0] + 180.0, xy[:, 1])  # far from any zone: builds the trees only
        self.crossed(xy[:, 0], xy[:, 1], xy[:, 0], xy[:, 1])

    def locate(self, lons: FloatArray, lats: FloatArray) -> Located:
        """The zones and the warning buffers that cover each point (vectorised); for a point in
        a buffer but outside its zone, the signed distance measured to decide it."""
        points = shapely.points(lons, lats)
        zone = self._zone_tree.covering(points)
        near = self._reach.candidates(points)
        if near.shape[1] == 0:
            return Located(zone, near, np.zeros(0))
        size = len(self.zones)
        inside = np.isin(near[0] * size + near[1], zone[0] * size + zone[1])
        outside = ~inside
        distances = np.full(near.shape[1], np.nan)
        rows, positions = near[0][outside], near[1][outside]
        distances[outside] = self.signed_distances(
            positions, lons[rows], lats[rows], np.zeros(len(rows), dtype=np.bool_)
        )
        within = inside | (-distances <= self._reach_m[near[1]])
        return Located(zone, near[:, within], distances[within])

    def crossed(
        self,
        lon0: FloatArray,
        lat0: FloatArray,
        lon1: FloatArray,
        lat1: FloatArray,
        wanted: PairFilter | None = None,
    ) -> IntArray:
        """[segment, zone position] pairs where the straight segment touches the zone's shape.

        `wanted(segment, position)`, when given, is asked first for each pair whose bounding
        boxes meet, and a pair it refuses is not tested: a cheap rule saves the line test.
        """
        return self._zone_tree.intersecting(segment_lines(lon0, lat0, lon1, lat1), wanted)

    def covers(self, position: int, lons: FloatArray, lats: FloatArray) -> BoolArray:
        """Whether the zone at `position` covers each point."""
        return self._zone_tree.owner_covers(position, shapely.points(lons, lats))

    def buffer_covers(self, position: int, lons: FloatArray, lats: FloatArray) -> BoolArray:
        """Whether the zone's warning buffer (zone included) covers each point."""
        inside = self.covers(position, lons, lats)
        reach_m = float(self._reach_m[position])
        if reach_m <= 0.0 or inside.all():
            return inside
        outside = ~inside
        distances = self.signed_distances(
            np.full(int(outside.sum()), position, dtype=np.intp),
            lons[outside],
            lats[outside],
            np.zeros(int(outside.sum()), dtype=np.bool_),
        )
        covered = inside.copy()
        covered[outside] = -distances <= reach_m
        return covered


def _same_area(old: IndexedZone, new: IndexedZone) -> bool:
    """Whether two versions of a zone share their area (a rename or a new buffer does)."""
    return old.spec.area is new.spec.area or old.spec.area == new.spec.area


def _by_serial(exemptions: Iterable[Exemption]) -> dict[str, tuple[Exemption, ...]]:
    """Exemptions grouped by drone serial."""
    grouped: defaultdict[str, list[Exemption]] = defaultdict(list)
    for exemption in exemptions:
        grouped[exemption.serial].append(exemption)
    return {serial: tuple(items) for serial, items in grouped.items()}


def segment_lines(
    lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray
) -> GeometryArray:
    """Straight lon/lat segments; one that crosses the antimeridian is cut in two there."""
    lon0, lat0, lon1, lat1 = (np.asarray(a, dtype=np.float64) for a in (lon0, lat0, lon1, lat1))
    if len(lon0) == 0:
        return np.empty(0, dtype=object)
    starts = np.column_stack([lon0, lat0])
    ends = np.column_stack([lon1, lat1])
    lines = np.asarray(shapely.linestrings(np.stack([starts, ends], axis=1)), dtype=object)
    for i in np.flatnonzero(np.abs(lon1 - lon0) > 180.0):
        lines[i] = _across_antimeridian(lon0[i], lat0[i], lon1[i], lat1[i])
    return lines


def _across_antimeridian(lon0: float, lat0: float, lon1: float, lat1: float) -> MultiLineString:
    """The short way from (lon0, lat0) to (lon1, lat1) over ±180, as two lines."""
    side = 1.0 if lon0 > 0 else -1.0  # the meridian the segment leaves by: +180 or -180
    unwrapped = lon1 + side * 360.0
    fraction = (side * 180.0 - lon0) / (unwrapped - lon0)
    lat = lat0 + fraction * (lat1 - lat0)
    return MultiLineString(
        [[(lon0, lat0), (side * 180.0, lat)], [(-side * 180.0, lat), (lon1, lat1)]]
    )
