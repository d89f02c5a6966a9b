"""The verdict for one report against one zone: position, altitude band, time and exemption.

A report *breaches* a zone when all of these hold, and *approaches* it when the first is replaced
by "the warning buffer covers the position but the zone does not":

- Position: the zone covers it; on the boundary counts as inside, a point in a hole is outside.
- Altitude band: an AGL band is checked against `height_m`, an AMSL band against `alt_m`, both
  ends included. A floor at or below 0 m has no lower limit, so a drone on the ground whose GPS
  reads -2 m is still in a band that starts at the ground.
  Unknown altitude: when the altitude the band needs is missing (an AGL band and only `alt_m`
  known, or the reverse), the engine cannot convert one into the other (that needs terrain
  elevation and the take-off altitude) and decides conservatively: the report counts as inside
  the band and the verdict carries `altitude_assumed=True`. A band that spans all altitudes
  (floor <= 0, no ceiling) needs no altitude and assumes nothing.
- Time: the zone applies at the report's time (its active window, then its weekly schedule).
- Exemption: the drone holds no exemption valid at that time. An exemption with its own band
  (in the zone's altitude reference) exempts only an altitude inside that band; with the
  altitude unknown it does not exempt (conservative again) and flags `altitude_assumed`.

Severity: a breach of a prohibited zone is critical, restricted high, warning medium; any
approach is low. `distance_m` is signed geodesic metres to the zone boundary: the depth inside
(positive), or how far outside (negative) for an approach.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from skyguard.geofence.index import Exemption, ZoneIndex
from skyguard.geofence.reports import Report, coordinates
from skyguard.geofence.zones import ZoneSpec

AlertKind = Literal["breach", "approach"]
Severity = Literal["critical", "high", "medium", "low"]

_BREACH_SEVERITY: dict[str, Severity] = {
    "prohibited": "critical",
    "restricted": "high",
    "warning": "medium",
}


@dataclass(frozen=True)
class Evaluation:
    """One report against one zone: where it is relative to the zone and which rules hold."""

    position: int  # the zone's position in the index
    in_zone: bool
    in_buffer: bool  # inside the warning buffer, the zone itself included
    distance_m: float  # signed: depth inside the boundary, negative outside
    band_excess_m: float  # metres above the ceiling or below the floor; 0 within the band
    applies: bool
    exempt: bool
    altitude_assumed: bool

    @property
    def eligible(self) -> bool:
        """Whether the band, time and exemption rules let this report alert."""
        return self.applies and not self.exempt and self.band_excess_m == 0.0

    @property
    def kind(self) -> AlertKind | None:
        """breach, approach, or None when the report raises nothing for this zone."""
        if not self.eligible:
            return None
        if self.in_zone:
            return "breach"
        return "approach" if self.in_buffer else None


def severity_of(kind: AlertKind, category: str) -> Severity:
    """The alert severity for a kind of alert in a zone category."""
    return "low" if kind == "approach" else _BREACH_SEVERITY.get(category, "critical")


def band_excess(spec: ZoneSpec, alt_m: float | None, height_m: float | None) -> tuple[float, bool]:
    """Metres outside the zone's altitude band (0 inside), and whether the altitude was assumed."""
    if spec.floor_m <= 0.0 and spec.ceiling_m is None:
        return 0.0, False
    altitude = height_m if spec.altitude_ref == "AGL" else alt_m
    if altitude is None:
        return 0.0, True
    below = spec.floor_m - altitude if spec.floor_m > 0.0 else 0.0
    above = altitude - spec.ceiling_m if spec.ceiling_m is not None else 0.0
    return max(0.0, below, above), False


def is_exempt(
    exemptions: Sequence[Exemption], at: datetime, altitude_m: float | None
) -> tuple[bool, bool]:
    """Whether an exemption covers the drone at `at`, and whether an unknown altitude mattered."""
    assumed = False
    for exemption in exemptions:
        if not exemption.valid_at(at):
            continue
        if not exemption.banded:
            return True, False
        if altitude_m is None:
            assumed = True
        elif exemption.band_contains(altitude_m):
            return True, False
    return False, assumed


@dataclass(frozen=True)
class _Rules:
    """The band, time and exemption rules applied to one report in one zone."""

    band_excess_m: float
    applies: bool
    exempt: bool
    altitude_assumed: bool

    @property
    def eligible(self) -> bool:
        """Whether these rules let the report alert."""
        return self.applies and not self.exempt and self.band_excess_m == 0.0

    def verdict(
        self, position: int, in_zone: bool, in_buffer: bool, distance_m: float
    ) -> Evaluation:
        """The full verdict, once the report's place in the zone is known."""
        return Evaluation(
            position=position,
            in_zone=in_zone,
            in_buffer=in_buffer or in_zone,
            distance_m=distance_m,
            band_excess_m=self.band_excess_m,
            applies=self.applies,
            exempt=self.exempt,
            altitude_assumed=self.altitude_assumed,
        )


def _rules(index: ZoneIndex, position: int, report: Report) -> _Rules:
    """Apply the zone's band, time and exemption rules to a report."""
    spec = index.zones[position].spec
    excess, band_assumed = band_excess(spec, report.alt_m, report.height_m)
    altitude = report.height_m if spec.altitude_ref == "AGL" else report.alt_m
    exemptions = index.exemptions_for(position, report.serial)
    exempt, exempt_assumed = is_exempt(exemptions, report.time, altitude)
    applies = spec.applies_at(report.time)
    return _Rules(excess, applies, exempt, band_assumed or exempt_assumed)


def judge(
    index: ZoneIndex,
    position: int,
    report: Report,
    *,
    in_zone: bool,
    in_buffer: bool,
    distance_m: float,
) -> Evaluation:
    """Apply the band, time and exemption rules to a report whose place is already known."""
    return _rules(index, position, report).verdict(position, in_zone, in_buffer, distance_m)


def breaches_at(index: ZoneIndex, position: int, report: Report) -> bool:
    """Whether the report breaches the zone at `position` (no distance measured)."""
    lons, lats = coordinates([report])
    return bool(index.covers(position, lons, lats)[0]) and _rules(index, position, report).eligible


def evaluate_one(index: ZoneIndex, position: int, report: Report) -> Evaluation:
    """The full verdict of one report against one zone, its place computed directly."""
    lons, lats = coordinates([report])
    in_zone = bool(index.covers(position, lons, lats)[0])
    in_buffer = in_zone or bool(index.buffer_covers(position, lons, lats)[0])
    inside = np.array([in_zone])
    distance = float(index.signed_distances(np.array([position]), lons, lats, inside)[0])
    return judge(index, position, report, in_zone=in_zone, in_buffer=in_buffer, distance_m=distance)


def evaluate_reports(
    reports: Sequence[Report],
    index: ZoneIndex,
    *,
    following: Mapping[int, Collection[int]] | None = None,
) -> list[dict[int, Evaluation]]:
    """For each report, its verdicts against every zone or buffer covering it (vectorised).

    With `following` (report row -> zone positions whose episodes the drone has open), the
    distance to the boundary is measured only where it can matter: for a verdict that may
    alert, or for a zone followed, which gets a verdict even where neither it nor its buffer
    covers the report. Elsewhere `distance_m` is what locating measured, or NaN. Without
    `following`, the distance is measured everywhere.
    """
    verdicts: list[dict[int, Evaluation]] = [{} for _ in reports]
    if not reports or not len(index):
        return verdicts
    lons, lats = coordinates(reports)
    located = index.locate(lons, lats)
    size = len(index)
    zone_keys = located.zone[0] * size + located.zone[1]
    buffer_keys = located.buffer[0] * size + located.buffer[1]
    followed_keys = np.fromiter(
        (row * size + p for row, positions in (following or {}).items() for p in positions),
        dtype=np.intp,
    )
    keys = np.union1d(np.union1d(zone_keys, buffer_keys), followed_keys)
    in_zone = np.isin(keys, zone_keys)
    in_buffer = np.isin(keys, buffer_keys) | in_zone
    measured = np.full(len(keys), math.nan)  # what locating already measured (outside zones)
    measured[np.searchsorted(keys, buffer_keys)] = located.buffer_distance
    rows, positions = keys // size, keys % size
    pairs = list(zip(rows.tolist(), positions.tolist(), strict=True))
    ruled = [_rules(index, position, reports[row]) for row, position in pairs]
    wanted = np.fromiter(
        (
            following is None or rule.eligible or position in following.get(row, ())
            for (row, position), rule in zip(pairs, ruled, strict=True)
        ),
        dtype=np.bool_,
        count=len(pairs),
    )
    missing = wanted & np.isnan(measured)
    distances = measured
    distances[missing] = index.signed_distances(
        positions[missing], lons[rows[missing]], lats[rows[missing]], in_zone[missing]
    )
    for (row, position), rule, inside, near, distance in zip(
        pairs, ruled, in_zone.tolist(), in_buffer.tolist(), distances.tolist(), strict=True
    ):
        verdicts[row][position] = rule.verdict(position, inside, near, distance)
    return verdicts
