"""settle_heap: the zone index leaves the collector's full passes, is still freed when a zone
edit replaces it (it holds no reference cycles), and cyclic garbage that was alive when frozen
is collected at the next settling. In a subprocess: freezing affects the whole process."""

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
    class Request:  # something alive when the heap is settled that dies in a cycle later
        pass
    in_flight = Request()
    in_flight.me = in_flight
    settle_heap()
    assert gc.get_freeze_count() > 0
    replaced, request = weakref.ref(current), weakref.ref(in_flight)
    current = index(zone())  # an edit: the frozen index is replaced
    del in_flight
    settle_heap()
    print("freed" if replaced() is None else "kept", "freed" if request() is None else "kept")
""")


def test_a_frozen_index_and_frozen_cycles_are_freed_later():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "freed freed"
