"""How far the launch-point estimator is from the truth on real flights (`make eval`).

Reads ArduPilot GPS logs (CSV: gps_tow_ms, lat, lon, alt_msl_m, fix, nsats). Rows with a time of
week of 0 or no satellites are receiver placeholders and are dropped, as are fixes below 3D and
repeated times of week (the first is kept). The first 3D fix is the true launch point.

Each flight is measured twice, replayed through `LaunchEvidence` in batches of BATCH fixes (fed
and stored as the service does) and estimated once the track is over (`ended=True`); altitude
AMSL only, no height above take-off, no operator location:

- full: the whole track, from its first fix;
- cut: only from the first fix CLIMB_M above the truth's altitude on (the drone first seen in
  the air), the rest of the flight kept; flights that never climb that high are left out.

The naive baseline is the first fix of the track. Prints a per-flight table (with the share of
fixes the glitch filter left out) and a summary table in Markdown, and exits 1 when a target
(TARGETS) is missed. The 90th percentile is numpy's (linear interpolation between ranks).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from skyguard.geofence.shapes import wgs84
from skyguard.tracks.launch import Fix, LaunchEvidence

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "flights" / "erle"
BATCH = 50
CLIMB_M = 20.0
MIN_FIX_TYPE = 3  # 3D


@dataclass(frozen=True)
class Target:
    """One acceptance figure: a summary value of a track kind and its bound."""

    kind: str
    figure: str  # a Summary field
    bound: float
    at_least: bool = False

    def met(self, value: float) -> bool:
        """Whether a measured value meets this target."""
        return value >= self.bound if self.at_least else value <= self.bound

    def __str__(self) -> str:
        return f"{self.kind} {self.figure} {'>=' if self.at_least else '<='} {self.bound:g}"


TARGETS = (
    Target("full", "median_m", 3.0),
    Target("full", "coverage_pct", 80.0, at_least=True),
    Target("cut", "median_m", 10.0),
    Target("cut", "p90_m", 30.0),
    Target("cut", "coverage_pct", 80.0, at_least=True),
)


@dataclass(frozen=True)
class Outcome:
    """One track's estimate against the truth."""

    flight: str
    kind: str
    error_m: float
    radius_m: float
    method: str
    basis: str
    confidence: float
    naive_m: float
    evidence_bytes: int
    rejected_pct: float  # fixes the glitch filter left out

    @property
    def covered(self) -> bool:
        """Whether the truth lies within the stated radius."""
        return self.error_m <= self.radius_m


@dataclass(frozen=True)
class Summary:
    """The figures of one track kind over all flights."""

    kind: str
    n: int
    median_m: float
    p90_m: float
    coverage_pct: float
    naive_median_m: float
    naive_p90_m: float


@dataclass(frozen=True)
class Evaluation:
    """Everything measured, and the targets missed."""

    outcomes: list[Outcome]
    summaries: list[Summary]
    flights: int
    never_climbed: list[str]
    missed: list[str]


def read_flight(path: Path) -> list[Fix]:
    """The 3D fixes of an ArduPilot GPS log, in time order, placeholders and repeats dropped."""
    fixes: list[Fix] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            tow_ms = int(row["gps_tow_ms"])
            if tow_ms == 0 or int(row["nsats"]) == 0 or int(row["fix"]) < MIN_FIX_TYPE:
                continue
            t_s = tow_ms / 1000.0
            if fixes and t_s <= fixes[-1].t_s:
                continue  # a repeated time of week: the first is kept
            alt_m = float(row["alt_msl_m"])
            fixes.append(Fix(t_s=t_s, lon=float(row["lon"]), lat=float(row["lat"]), alt_m=alt_m))
    return fixes


def cut_track(fixes: Sequence[Fix], climb_m: float = CLIMB_M) -> list[Fix] | None:
    """The track from its first fix climb_m above the first fix's altitude on, if it gets there."""
    ground_m = fixes[0].alt_m
    if ground_m is None:
        raise ValueError("the first fix has no altitude")
    for index, fix in enumerate(fixes):
        if fix.alt_m is not None and fix.alt_m >= ground_m + climb_m:
            return list(fixes[index:])
    return None


def replay(fixes: Sequence[Fix], batch: int = BATCH) -> LaunchEvidence:
    """The evidence of a track fed in batches, stored (as the service stores it) and reloaded
    between them."""
    evidence = LaunchEvidence.empty()
    for start in range(0, len(fixes), batch):
        evidence = LaunchEvidence.from_bytes(evidence.to_bytes())
        evidence.add(fixes[start : start + batch])
    return evidence


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance between two (lon, lat) points."""
    _, _, metres = wgs84().inv(a[0], a[1], b[0], b[1])
    return float(metres)


def measure(flight: str, kind: str, track: Sequence[Fix], truth: Fix) -> Outcome:
    """Replay one track and compare its launch point with the truth."""
    evidence = replay(track)
    point = evidence.estimate(ended=True)
    where = (truth.lon, truth.lat)
    return Outcome(
        flight=flight,
        kind=kind,
        error_m=distance_m((point.lon, point.lat), where),
        radius_m=point.radius_m,
        method=point.method,
        basis=point.basis,
        confidence=point.confidence,
        naive_m=distance_m((track[0].lon, track[0].lat), where),
        evidence_bytes=len(json.dumps(evidence.to_json(), separators=(",", ":"))),
        rejected_pct=100.0 * evidence.rejected_count / max(evidence.fix_count, 1),
    )


def summarise(kind: str, outcomes: Sequence[Outcome]) -> Summary:
    """Median, 90th percentile (numpy's linear interpolation) and coverage of some outcomes."""
    errors = np.array([o.error_m for o in outcomes])
    naive = np.array([o.naive_m for o in outcomes])
    return Summary(
        kind=kind,
        n=len(outcomes),
        median_m=float(np.median(errors)),
        p90_m=float(np.percentile(errors, 90)),
        coverage_pct=100.0 * sum(o.covered for o in outcomes) / len(outcomes),
        naive_median_m=float(np.median(naive)),
        naive_p90_m=float(np.percentile(naive, 90)),
    )


def evaluate(data_dir: Path) -> Evaluation:
    """Measure every flight of a directory of logs, both ways."""
    paths = sorted(data_dir.glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"no flight logs (*.csv) in {data_dir}")
    outcomes: list[Outcome] = []
    never_climbed: list[str] = []
    for path in paths:
        fixes = read_flight(path)
        if not fixes:
            continue
        outcomes.append(measure(path.stem, "full", fixes, fixes[0]))
        cut = cut_track(fixes)
        if cut is None:
            never_climbed.append(path.stem)
        else:
            outcomes.append(measure(path.stem, "cut", cut, fixes[0]))
    summaries = [
        summarise(kind, chosen)
        for kind in ("full", "cut")
        if (chosen := [o for o in outcomes if o.kind == kind])
    ]
    by_kind = {s.kind: s for s in summaries}
    missed = [
        f"{target} (measured {getattr(by_kind[target.kind], target.figure):.1f})"
        for target in TARGETS
        if target.kind not in by_kind
        or not target.met(getattr(by_kind[target.kind], target.figure))
    ]
    flights = len({o.flight for o in outcomes})
    return Evaluation(outcomes, summaries, flights, never_climbed, missed)


def markdown(evaluation: Evaluation) -> str:
    """The per-flight and summary tables, and what was left out or missed."""
    lines = [
        "| flight | track | error m | radius m | method | basis | GPS glitches % |",
        "|---|---|---:|---:|---|---|---:|",
    ]
    for o in sorted(evaluation.outcomes, key=lambda o: (o.kind != "full", o.flight)):
        lines.append(
            f"| {o.flight} | {o.kind} | {o.error_m:.1f} | {o.radius_m:.1f} | {o.method} "
            f"| {o.basis} | {o.rejected_pct:.0f} |"
        )
    lines += [
        "",
        "| track kind | n | median m | p90 m | coverage % | naive median m | naive p90 m |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in evaluation.summaries:
        lines.append(
            f"| {s.kind} | {s.n} | {s.median_m:.1f} | {s.p90_m:.1f} | {s.coverage_pct:.0f} "
            f"| {s.naive_median_m:.1f} | {s.naive_p90_m:.1f} |"
        )
    for s in evaluation.summaries:
        if s.kind == "cut":  # the baseline: the first point seen, no radius
            lines.append(
                f"| {s.kind}, first point seen (baseline) | {s.n} | {s.naive_median_m:.1f} "
                f"| {s.naive_p90_m:.1f} | | | |"
            )
    largest = max(evaluation.outcomes, key=lambda o: o.evidence_bytes)
    lines += [
        "",
        f"{evaluation.flights} flights; {len(evaluation.never_climbed)} never climb "
        f"{CLIMB_M:g} m above their launch point and are left out of the cut tracks.",
        f"Largest evidence JSON: {largest.evidence_bytes} bytes ({largest.flight}, "
        f"{largest.kind}).",
    ]
    lines += [f"TARGET MISSED: {miss}" for miss in evaluation.missed] or ["All targets met."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation; 0 when every target is met, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m skyguard.tracks.evaluation",
        description="Measure the launch-point estimator on real ArduPilot flights.",
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"flight logs (default {DEFAULT_DATA})"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    evaluation = evaluate(args.data)
    print(markdown(evaluation))
    if args.json is not None:
        figures = {
            "summaries": [asdict(s) for s in evaluation.summaries],
            "flights": [asdict(o) for o in evaluation.outcomes],
            "never_climbed": evaluation.never_climbed,
            "targets": [str(t) for t in TARGETS],
            "missed": evaluation.missed,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 1 if evaluation.missed else 0


if __name__ == "__main__":
    sys.exit(main())
