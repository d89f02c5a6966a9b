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

from skyguard.geofence.breach import Evaluation, evaluate_reports
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
    everything: list[Report] = []
    bounds = [0]
    for chain in chains:
        everything.extend(chain.reports)
        bounds.append(len(everything))
    starts = np.array(bounds, dtype=np.intp)
    verdicts, judged = _judge_fresh(chains, everything, starts, index)
    crossings = _per_chain(find_crossings(everything, verdicts, index, config, judged), starts)
    outcome: dict[str, Advanced] = {}
    for i, chain in enumerate(chains):
        mine = verdicts[bounds[i] : bounds[i + 1]]
        found = crossings.get(i, {})
        if not found and _quiet(chain, mine):
            outcome[chain.serial] = _moved_on(chain)
        else:
            outcome[chain.serial] = run(chain, mine, found, index, config)
    return outcome


def _judge_fresh(
    chains: Sequence[Chain], everything: Sequence[Report], starts: IntArray, index: ZoneIndex
) -> tuple[list[dict[int, Evaluation]], list[bool]]:
    """Verdicts for the chains' fresh reports, in one query, and which reports were judged.

    A chain's first report, when it is the drone's latest applied one, only starts the first
    segment: it is judged again only if a segment needs it. Distances are measured where a
    verdict may alert or the drone has the zone's episode open.
    """
    judged = [True] * len(everything)
    following: dict[int, set[int]] = {}
    for chain, start in zip(chains, starts.tolist(), strict=False):
        if chain.state is None:
            continue
        judged[start] = False
        if not chain.state.episodes:
            continue
        positions = (index.position(e.zone_id) for e in chain.state.episodes)
        open_here = {p for p in positions if p is not None}
        if open_here:
            for row in range(start + 1, start + 1 + len(chain.fresh)):
                following[row] = open_here
    rows = [row for row, wanted in enumerate(judged) if wanted]
    found = evaluate_reports(
        [everything[row] for row in rows],
        index,
        following={i: following[row] for i, row in enumerate(rows) if row in following},
    )
    verdicts: list[dict[int, Evaluation]] = [{} for _ in everything]
    for row, verdict in zip(rows, found, strict=True):
        verdicts[row] = verdict
    return verdicts, judged


def _quiet(chain: Chain, verdicts: Sequence[dict[int, Evaluation]]) -> bool:
    """Whether the chain can change nothing but the drone's latest report: no episode open,
    no zone or buffer around any fresh report (crossings are checked apart)."""
    if chain.state is not None and chain.state.episodes:
        return False
    if len(chain.fresh) == 1:
        return not verdicts[-1]
    return not any(verdicts[len(verdicts) - len(chain.fresh) :])


def _moved_on(chain: Chain) -> Advanced:
    """The outcome of a quiet chain: the newest report becomes the drone's latest."""
    if not chain.fresh:
        if chain.state is None:
            raise ValueError("a drone's first batch needs at least one report")
        return Advanced(chain.state, [], chain.late, chain.duplicates)
    return Advanced(DroneState(chain.serial, chain.fresh[-1]), [], chain.late, chain.duplicates)


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
