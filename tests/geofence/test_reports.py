"""Report values: the checked constructor gives the same value as the checking one."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from skyguard.geofence.reports import Report
from tests.geofence.builders import at

FULL = ("D1", at(5), 8.5, 47.4, 500.0, 80.0, 12.0, 270.0, -1.5, 3.0, "rid", 8.49, 47.39)


@pytest.mark.parametrize("values", [FULL, FULL[:4], ("D1", at(0), -180.0, 90.0, None, 0.0)])
def test_a_checked_report_equals_the_report_the_constructor_makes(values):
    checked, made = Report.checked(*values), Report(*values)
    assert checked == made and hash(checked) == hash(made) and repr(checked) == repr(made)
    assert pickle.loads(pickle.dumps(checked)) == made
    assert replace(checked, lon=1.0) == replace(made, lon=1.0)


def test_a_checked_report_is_frozen_too():
    report = Report.checked(*FULL)
    with pytest.raises(AttributeError):
        report.lon = 1.0  # type: ignore[misc]
