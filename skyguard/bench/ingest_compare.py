"""Alert sets against the oracle: (drone, zone) pairs with a breach alert opened by a report.

An alert is opened by a report (its opening time is that report's time), by a segment crossing
between two reports (its episode closed as "crossed": no report was inside, so the oracle, which
judges reports, cannot have it), or, on the server, by the background tick at wall-clock time.
The bench replays report times that trail the wall clock, so the tick sees a zone window that
begins mid-stream as begun already, and opens the alert of a drone inside it before the report
that would have opened it arrives: an oracle pair alerted that way is alerted (and counted as
`by_clock`), not missing. A report-opened alert without the oracle's breach is extra; a
tick-opened one without it is counted apart (`clock_only`), as are crossings (`crossing_only`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Pair = tuple[int, int]
Opening = Literal["report", "crossing", "clock"]
OpenAlert = tuple[int, int, str, Opening]  # drone, zone, alert kind, what opened it
EXAMPLES = 5


@dataclass
class Comparison:
    """How an arm's breach alerts agree with the oracle."""

    oracle_pairs: int
    alert_pairs: int  # pairs with a report-opened breach alert
    missing: int  # the oracle's breach with no alert opened by a report or the tick
    extra: int  # a report-opened alert without the oracle's breach
    by_clock: int  # the oracle's breaches whose alert the background tick opened first
    breach_alerts: int  # breach alerts opened, however
    approach_alerts: int
    crossing_only: int  # pairs opened only by segment crossings
    clock_only: int  # pairs opened only by the server's background tick
    missing_examples: list[Pair] = field(default_factory=list)
    extra_examples: list[Pair] = field(default_factory=list)

    @property
    def mismatches(self) -> int:
        """Pairs on one side only."""
        return self.missing + self.extra


def compare(oracle: set[Pair], opens: list[OpenAlert]) -> Comparison:
    """The alerts' pairs by what opened them, against the oracle's breached pairs."""
    by: dict[Opening, set[Pair]] = {"report": set(), "crossing": set(), "clock": set()}
    breach_alerts = approach_alerts = 0
    for drone, zone, kind, opening in opens:
        if kind != "breach":
            approach_alerts += 1
            continue
        breach_alerts += 1
        by[opening].add((drone, zone))
    reported = by["report"]
    missing, extra = sorted(oracle - reported - by["clock"]), sorted(reported - oracle)
    return Comparison(
        oracle_pairs=len(oracle),
        alert_pairs=len(reported),
        missing=len(missing),
        extra=len(extra),
        by_clock=len((oracle & by["clock"]) - reported),
        breach_alerts=breach_alerts,
        approach_alerts=approach_alerts,
        crossing_only=len(by["crossing"] - reported - oracle),
        clock_only=len(by["clock"] - reported - oracle),
        missing_examples=missing[:EXAMPLES],
        extra_examples=extra[:EXAMPLES],
    )


@dataclass
class CoverComparison:
    """A PostGIS `ST_Covers` baseline's (report, zone) pairs against shapely's."""

    shapely_pairs: int
    postgis_pairs: int
    only_shapely: int
    only_postgis: int
    examples: list[Pair] = field(default_factory=list)

    @property
    def mismatches(self) -> int:
        """Pairs on one side only."""
        return self.only_shapely + self.only_postgis


def compare_covers(shapely_pairs: set[Pair], postgis_pairs: set[Pair]) -> CoverComparison:
    """Both ways."""
    only_shapely, only_postgis = shapely_pairs - postgis_pairs, postgis_pairs - shapely_pairs
    return CoverComparison(
        len(shapely_pairs),
        len(postgis_pairs),
        len(only_shapely),
        len(only_postgis),
        sorted(only_shapely | only_postgis)[:EXAMPLES],
    )
