"""settle_heap: the zone index leaves the collector's full passes, and is still freed when a
zone edit replaces it (it holds no reference cycles). In a subprocess: freezing is for good."""

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

PROBE = textwrap.dedent("""
    import gc, weakref
    import numpy as np
    from skyguard.store.zone_index import settle_heap
    from tests.geofence.builders import index, zone
    circle = {"type": "Point", "coordinates": [8.52, 47.405]}
    current = index(zone(warning_buffer_m=100.0), zone(circle, radius_m=500.0))
    current.signed_distances(  # make the lazily made parts too: flat and azimuthal frames
        np.array([0, 1]), np.array([8.5, 8.52]), np.array([47.4, 47.4]), np.array([True, True])
    )
    current.projected(0)
    settle_heap()
    assert gc.get_freeze_count() > 0
    replaced = weakref.ref(current)
    current = index(zone())  # an edit: the frozen index is replaced
    print("freed" if replaced() is None else "kept")
""")


def test_a_frozen_index_is_freed_when_replaced():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "freed"
