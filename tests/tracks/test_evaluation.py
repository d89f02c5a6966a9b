"""`make eval` on the shared ArduPilot flights: the acceptance targets, and how logs are read."""

from __future__ import annotations

import json
import shutil

import pytest

from skyguard.tracks.evaluation import (
    CLIMB_M,
    TARGETS,
    Evaluation,
    Target,
    cut_track,
    evaluate,
    main,
    read_flight,
)
from tests.conftest import SHARED

FLIGHTS = SHARED / "data" / "flights" / "erle"
FLIGHT_COUNT = 25
# With 6 cut tracks, the 90th percentile is the mean of the two worst. One of them,
# pxf_copter_26-11-2014_181, is first seen in the air inside a GPS failure: every fix after
# that is off by tens to hundreds of metres (altitude swinging over 500 m in seconds), and its
# first fix, 58 m from the launch point, is as close as any of them.
KNOWN_MISSES = {Target("cut", "p90_m", 30.0)}


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    assert FLIGHTS.is_dir(), f"the shared flights are missing: {FLIGHTS}"
    return evaluate(FLIGHTS)


def test_every_shared_flight_is_measured(evaluation: Evaluation):
    assert evaluation.flights == FLIGHT_COUNT
    kinds = {s.kind: s.n for s in evaluation.summaries}
    assert kinds["full"] == FLIGHT_COUNT
    assert kinds["cut"] + len(evaluation.never_climbed) == FLIGHT_COUNT


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(
            target,
            marks=pytest.mark.xfail(strict=True, reason="see KNOWN_MISSES")
            if target in KNOWN_MISSES
            else (),
        )
        for target in TARGETS
    ],
    ids=str,
)
def test_acceptance_target(evaluation: Evaluation, target: Target):
    summary = next(s for s in evaluation.summaries if s.kind == target.kind)
    value = getattr(summary, target.figure)
    assert target.met(value), f"{target}: measured {value:.1f}"


def test_the_estimator_beats_the_first_point_seen(evaluation: Evaluation):
    cut = next(s for s in evaluation.summaries if s.kind == "cut")
    assert cut.median_m < cut.naive_median_m / 3
    assert cut.p90_m < cut.naive_p90_m / 2


def test_full_tracks_mostly_start_on_the_ground(evaluation: Evaluation):
    full = [o for o in evaluation.outcomes if o.kind == "full"]
    assert sum(o.method == "ground_start" for o in full) >= 0.8 * len(full)
    assert all(o.method == "estimated" for o in evaluation.outcomes if o.kind == "cut")


def test_the_evidence_stays_small(evaluation: Evaluation):
    assert max(o.evidence_bytes for o in evaluation.outcomes) < 5000


def test_read_flight_drops_placeholders_2d_fixes_and_repeated_times(tmp_path):
    log = tmp_path / "flight.csv"
    log.write_text(
        "gps_tow_ms,lat,lon,alt_msl_m,fix,nsats\n"
        "0,0,0,0,3,0\n"  # receiver placeholder
        "1000,42.0,-2.0,500.0,2,6\n"  # 2D fix
        "1200,42.1,-2.1,501.0,3,6\n"
        "1200,42.2,-2.2,502.0,3,6\n"  # repeated time of week: the first is kept
        "1400,42.3,-2.3,503.0,3,0\n"  # no satellites
        "1600,42.4,-2.4,504.0,3,7\n",
        encoding="utf-8",
    )
    fixes = read_flight(log)
    assert [(f.t_s, f.lat, f.lon, f.alt_m) for f in fixes] == [
        (1.2, 42.1, -2.1, 501.0),
        (1.6, 42.4, -2.4, 504.0),
    ]
    assert all(f.height_m is None and f.operator_lon is None for f in fixes)


def test_cut_track_starts_at_the_first_fix_high_enough():
    fixes = read_flight(FLIGHTS / "pxf_copter_31-3-2015_83.csv")
    cut = cut_track(fixes)
    assert cut is not None
    assert cut[-1] == fixes[-1]
    assert cut[0].alt_m >= fixes[0].alt_m + CLIMB_M  # type: ignore[operator]
    before = fixes[: len(fixes) - len(cut)]
    assert all(f.alt_m < fixes[0].alt_m + CLIMB_M for f in before)  # type: ignore[operator]
    assert cut_track(read_flight(FLIGHTS / "pxf_copter_19-4-2015_7.csv")) is None


def test_main_prints_the_tables_and_writes_json(tmp_path, capsys):
    data = tmp_path / "flights"
    data.mkdir()
    for name in ("pxf_copter_31-3-2015_83", "pxf_copter_19-4-2015_7"):
        shutil.copy(FLIGHTS / f"{name}.csv", data)
    out = tmp_path / "figures.json"
    code = main(["--data", str(data), "--json", str(out)])
    printed = capsys.readouterr().out
    assert "| flight | track | error m | radius m | method | basis |" in printed  # and more
    assert "| track kind | n | median m | p90 m | coverage % |" in printed
    assert "1 never climb 20 m" in printed
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert [s["kind"] for s in figures["summaries"]] == ["full", "cut"]
    assert figures["never_climbed"] == ["pxf_copter_19-4-2015_7"]
    assert code == (1 if figures["missed"] else 0)


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--data" in capsys.readouterr().out
