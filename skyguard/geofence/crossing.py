"""Segment crossing: a straight segment between consecutive reports that passes through a zone.

Sparse fixes can jump over a zone. The segment between two consecutive reports is tested against
the zone index (all segments of a batch in one vectorised query); where it enters a zone that
neither endpoint breaches, each run inside the zone is judged at its middle, with time and
altitudes interpolated linearly along the segment. Segments longer in time than the silence
timeout are not assumed straight: contact was lost in between; nor are jumps faster than
`max_segment_speed_mps`, which are position glitches or spoofing, not flight. The segment is
straight in the zone's metric frame, which for report spacings of a few kilometres is the
geodesic to within centimetres.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from skyguard.geofence.breach import Evaluation, breaches_at, judge
from skyguard.geofence.episodes import EngineConfig, Position
from skyguard.geofence.frames import Stretch
from skyguard.geofence.index import ZoneIndex
from skyguard.geofence.reports import FloatArray, IntArray, Report, coordinates
from skyguard.geofence.shapes import wgs84
from skyguard.geofence.zones import ZoneSpec


@dataclass(frozen=True)
class Crossing:
    """A zone breached between two reports, from the first entry to the last exit."""

    position: int  # the zone's position in the index
    entered_at: datetime
    left_at: datetime
    entry: Position
    exit: Position
    depth_m: float
    altitude_assumed: bool


def find_crossings(
    chain: Sequence[Report],
    verdicts: Sequence[dict[int, Evaluation]],
    index: ZoneIndex,
    config: EngineConfig,
    judged: Sequence[bool] | None = None,
) -> dict[int, list[Crossing]]:
    """Crossings on each segment chain[i - 1] -> chain[i] of one drone, keyed by i, by entry.

    The chain may hold several drones' reports one drone after another: a segment links two
    reports of the same drone only. A report whose `judged` is False has no verdicts given:
    it is judged here against a zone if a segment from it meets that zone.
    """
    if len(chain) < 2 or not len(index):
        return {}
    lons, lats = coordinates(chain)
    gaps_s = np.array([(b.time - a.time).total_seconds() for a, b in itertools.pairwise(chain)])
    same_drone = np.array([a.serial == b.serial for a, b in itertools.pairwise(chain)])
    usable = np.flatnonzero((gaps_s <= config.silence_timeout_s) & same_drone)
    wanted = _WorthTesting(chain, verdicts, index, config, judged, usable, gaps_s)
    pairs = index.crossed(lons[usable], lats[usable], lons[usable + 1], lats[usable + 1], wanted)
    found: defaultdict[int, list[Crossing]] = defaultdict(list)
    for segment, position in pairs.T:
        end, zone = int(usable[segment]) + 1, int(position)
        if judged is not None and not judged[end - 1] and breaches_at(index, zone, chain[end - 1]):
            continue
        crossing = cross(index, zone, chain[end - 1], chain[end])
        if crossing is not None:
            found[end].append(crossing)
    return {end: sorted(items, key=lambda c: c.entered_at) for end, items in found.items()}


class _WorthTesting:
    """Whether a segment of `find_crossings` is worth the line test against a zone.

    The cheap rules come first, so that few segments get the line test: a segment whose end
    (or judged start) breaches the zone is no crossing, nor is a jump too fast to be flight,
    nor a segment shorter than an end's distance outside the zone, nor one the zone's band,
    time and exemptions rule out all along.
    """

    def __init__(
        self,
        chain: Sequence[Report],
        verdicts: Sequence[dict[int, Evaluation]],
        index: ZoneIndex,
        config: EngineConfig,
        judged: Sequence[bool] | None,
        usable: IntArray,
        gaps_s: FloatArray,
    ) -> None:
        """The segments are chain[usable[k]] -> chain[usable[k] + 1]."""
        self.chain, self.verdicts, self.index, self.config = chain, verdicts, index, config
        self.judged, self.usable, self.gaps_s = judged, usable, gaps_s
        self.lengths_m: dict[int, float] = {}

    def __call__(self, segment: int, zone: int) -> bool:
        """Whether segment `segment` (an index into `usable`) may cross the zone."""
        end = int(self.usable[segment]) + 1
        before, after = self.verdicts[end - 1], self.verdicts[end]
        if _breaches(after, zone):
            return False
        start_judged = self.judged is None or self.judged[end - 1]
        if start_judged and _breaches(before, zone):
            return False
        length_m = self._length_m(end)
        if length_m > self.config.max_segment_speed_mps * self.gaps_s[end - 1]:
            return False
        if _out_of_reach(after, zone, length_m):
            return False
        if start_judged and _out_of_reach(before, zone, length_m):
            return False
        return may_breach_between(self.index, zone, self.chain[end - 1], self.chain[end])

    def _length_m(self, end: int) -> float:
        """The geodesic length of the segment that ends at chain[end], measured once."""
        length_m = self.lengths_m.get(end)
        if length_m is None:
            a, b = self.chain[end - 1], self.chain[end]
            length_m = float(wgs84().inv(a.lon, a.lat, b.lon, b.lat)[2])
            self.lengths_m[end] = length_m
        return length_m


def cross(index: ZoneIndex, position: int, start: Report, end: Report) -> Crossing | None:
    """The breach of one zone by the segment start -> end, if any run inside it breaches."""
    projected = index.projected(position)
    breaching: list[tuple[Stretch, float, bool]] = []
    for stretch in projected.stretches(start.lon, start.lat, end.lon, end.lat):
        middle = interpolate(start, end, (stretch.start + stretch.end) / 2.0, stretch.middle)
        lons, lats = coordinates([middle])
        depth = float(index.signed_distances(np.array([position]), lons, lats, np.array([True]))[0])
        verdict = judge(index, position, middle, in_zone=True, in_buffer=True, distance_m=depth)
        if verdict.kind == "breach":
            breaching.append((stretch, depth, verdict.altitude_assumed))
    if not breaching:
        return None
    first, last = breaching[0][0], breaching[-1][0]
    return Crossing(
        position=position,
        entered_at=interpolate(start, end, first.start, first.entry).time,
        left_at=interpolate(start, end, last.end, last.exit).time,
        entry=first.entry,
        exit=last.exit,
        depth_m=max(depth for _, depth, _ in breaching),
        altitude_assumed=any(assumed for _, _, assumed in breaching),
    )


def may_breach_between(index: ZoneIndex, position: int, start: Report, end: Report) -> bool:
    """Whether some point of the segment start -> end could breach the zone by its band, time
    window, weekly schedule and exemptions (its shape aside): False when every instant and
    altitude in between is ruled out. Altitude and time vary linearly along the segment, so
    the ends decide (and, for a schedule, the whole minutes between them)."""
    spec = index.zones[position].spec
    if not spec.applies_between(start.time, end.time):
        return False
    if not _band_reachable(spec, start, end):
        return False
    return not any(
        not e.banded and e.valid_from <= start.time and end.time < e.valid_until
        for e in index.exemptions_for(position, start.serial)
    )


def _band_reachable(spec: ZoneSpec, start: Report, end: Report) -> bool:
    """Whether an altitude between the two ends' lies in the zone's band (unknown: it may)."""
    if spec.floor_m <= 0.0 and spec.ceiling_m is None:
        return True
    low, high = _altitudes(spec, start), _altitudes(spec, end)
    if low is None or high is None:
        return True
    low, high = min(low, high), max(low, high)
    above_floor = spec.floor_m <= 0.0 or high >= spec.floor_m
    return above_floor and (spec.ceiling_m is None or low <= spec.ceiling_m)


def _altitudes(spec: ZoneSpec, report: Report) -> float | None:
    """The report's altitude in the zone's reference: height for AGL, altitude for AMSL."""
    return report.height_m if spec.altitude_ref == "AGL" else report.alt_m


def interpolate(start: Report, end: Report, fraction: float, position: Position) -> Report:
    """A report at `position`, a fraction of the way from start to end in time and altitude."""
    return Report(
        serial=start.serial,
        time=start.time + (end.time - start.time) * fraction,
        lon=position[0],
        lat=position[1],
        alt_m=_between(start.alt_m, end.alt_m, fraction),
        height_m=_between(start.height_m, end.height_m, fraction),
    )


def _between(a: float | None, b: float | None, fraction: float) -> float | None:
    """Linear interpolation, unknown when either end is unknown."""
    if a is None or b is None:
        return None
    return a + (b - a) * fraction


# A segment this much longer than its end's distance outside a zone might still touch it: its
# points are within its length of either end, to well under a percent for a lon/lat segment
# of a few kilometres (the longest plausible one) at any latitude.
_REACH_SLACK = 1.01
_REACH_SLACK_M = 1.0


def _out_of_reach(verdicts: dict[int, Evaluation], position: int, length_m: float) -> bool:
    """Whether a segment of `length_m` from this report cannot touch the zone: the report was
    measured farther outside the zone than the segment is long (unmeasured: it may)."""
    verdict = verdicts.get(position)
    if verdict is None or verdict.in_zone:
        return False
    return -verdict.distance_m > length_m * _REACH_SLACK + _REACH_SLACK_M


def _breaches(verdicts: dict[int, Evaluation], position: int) -> bool:
    """Whether a report's verdicts include a breach of the zone."""
    verdict = verdicts.get(position)
    return verdict is not None and verdict.kind == "breach"
