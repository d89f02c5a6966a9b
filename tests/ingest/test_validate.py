"""One raw report validated on its own: the Report it gives is the one the constructor makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from skyguard.geofence.reports import Report
from skyguard.ingest.validate import validate_batch

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_valid_report_becomes_the_report_the_constructor_makes():
    raw = {
        "serial": " D-7 ",
        "time": "2026-11-29T13:59:30+02:00",
        "lon": 8.5,
        "lat": 47,
        "alt_m": 500,
        "heading_deg": 360.0,
        "source": "rid",
        "operator_lon": 8.49,
        "operator_lat": 47.39,
    }
    good, bad = validate_batch([raw], now=NOW, future_tolerance=timedelta(seconds=30))
    assert bad == []
    (index, report), *_ = good
    expected = Report(
        "D-7", NOW - timedelta(seconds=30), 8.5, 47.0, alt_m=500.0, heading_deg=360.0,
        source="rid", operator_lon=8.49, operator_lat=47.39,
    )  # fmt: skip
    assert (index, report) == (0, expected)
    assert report.time.tzinfo is UTC and isinstance(report.lat, float)
