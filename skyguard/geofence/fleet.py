"""Many drones at once: one vectorised evaluation for a whole batch, then each drone's rules.

The ingest path receives batches mixing many drones. Calling `advance` per drone would query
the zone index once per drone; here every report of the batch is located in one STRtree query,
every segment tested in another, and only then is each drone's state machine run on its share.
The outcome is the same as calling `advance` (or `expire`) drone by drone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np

from skyguard.geofence.breach import evaluate_reports
from skyguard.geofence.crossing import Crossing, find_crossings
from skyguard.geofence.episodes import DroneState, EngineConfig, Transition
from skyguard.geofence.index import ZoneIndex
from skyguard.geofence.reports import IntArray, Report
from skyguard.geofence.transitions import (
    DEFAULT_CONFIG,
    Advanced,
    Chain,
    chain_of,
    probe_of,
    run,
    settle,
)


def advance_all(
    states: Mapping[str, DroneState],
    reports: Sequence[Report],
    index: ZoneIndex,
    config: EngineConfig = DEFAULT_CONFIG,
) -> dict[str, Advanced]:
    """Apply a batch of many drones' reports; the outcome per serial found in the batch."""
    chains = chains_of(states, reports)
    everything = [report for chain in chains for report in chain.reports]
    sizes = [len(chain.reports) for chain in chains]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    verdicts = evaluate_reports(everything, index)
    crossings = _per_chain(find_crossings(everything, verdicts, index, config), starts)
    return {
        chain.serial: run(
            chain,
            verdicts[starts[i] : starts[i + 1]],
            crossings.get(i, {}),
            index,
            config,
        )
        for i, chain in enumerate(chains)
    }


def expire_all(
    states: Iterable[DroneState],
    now: datetime,
    index: ZoneIndex,
    config: EngineConfig = DEFAULT_CONFIG,
) -> dict[str, tuple[DroneState, list[Transition]]]:
    """Apply the passing of time to many drones, their last places judged in one query."""
    drones = list(states)
    probes = [probe_of(state, now, config) for state in drones]
    live = [probe for probe in probes if probe is not None]
    live_verdicts = iter(evaluate_reports(live, index))
    outcome: dict[str, tuple[DroneState, list[Transition]]] = {}
    for state, probe in zip(drones, probes, strict=True):
        verdicts = next(live_verdicts) if probe is not None else {}
        outcome[state.serial] = settle(state, now, probe, verdicts, index, config)
    return outcome


def _per_chain(
    crossings: Mapping[int, list[Crossing]], starts: IntArray
) -> dict[int, dict[int, list[Crossing]]]:
    """Crossings keyed by global report index, regrouped per chain with local indexes."""
    grouped: defaultdict[int, dict[int, list[Crossing]]] = defaultdict(dict)
    for end, items in crossings.items():
        chain = int(np.searchsorted(starts, end, side="right")) - 1
        grouped[chain][end - int(starts[chain])] = items
    return grouped


def chains_of(states: Mapping[str, DroneState], reports: Sequence[Report]) -> list[Chain]:
    """Each drone's chain of a mixed batch, in order of first appearance."""
    by_serial: defaultdict[str, list[Report]] = defaultdict(list)
    for report in reports:
        by_serial[report.serial].append(report)
    return [chain_of(states.get(serial), items) for serial, items in by_serial.items()]
