"""When time alone may next change a drone's alerts: the instant the background tick must look.

Between reports, only the clock moves a drone's alerts on: an exit timer runs out, the drone
goes silent, a zone's window or weekly schedule opens or closes, an exemption starts or ends.
Each of those instants is known when the drone's state is written, so the state is stored with
the earliest of them and the tick judges only the drones that are due, instead of every live
drone every second. Zone edits are not instants of this kind: the tick looks at every drone
again when the zones change (and every so often, as a safety net).

Weekly schedules are written in whole local minutes, and every time zone in use is a whole
number of minutes off UTC, so a schedule can only open or close on a whole UTC minute: a drone
in a scheduled zone is due at the next one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import numpy as np

from skyguard.geofence.episodes import DroneState, EngineConfig
from skyguard.geofence.index import ZoneIndex

MINUTE = timedelta(minutes=1)


def next_minute(after: datetime) -> datetime:
    """The first whole UTC minute strictly after `after`."""
    floor = after.replace(second=0, microsecond=0)
    return floor + MINUTE


def due_at(
    state: DroneState,
    since: datetime,
    index: ZoneIndex,
    config: EngineConfig,
    placed: Iterable[int] = (),
) -> datetime | None:
    """The first instant after `since` at which time alone may change the drone's alerts, or None
    if nothing but its next report (or a zone edit) can. `placed`: the positions of the zones
    whose area or warning buffer holds the drone's last position."""
    instants: list[datetime] = []
    considered = set(placed)
    for episode in state.episodes:
        position = index.position(episode.zone_id)
        if position is None:
            return since  # its zone is gone: close the episode at once
        considered.add(position)
        if episode.outside_since is not None:
            instants.append(episode.outside_since + config.exit_time)
    # once silent, a drone's open episodes close and nothing new can open until it reports
    silent_after = state.last.time + config.silence_timeout
    if state.episodes:
        instants.append(silent_after)
    for position in considered:
        instants += _zone_changes(index, position, state.serial, since)
    later = [at for at in instants if at > since]
    if len(later) < len(instants):
        return since  # a deadline already passed: due now
    later = [at for at in later if at <= silent_after]
    return min(later) if later else None


def _zone_changes(index: ZoneIndex, position: int, serial: str, since: datetime) -> list[datetime]:
    """The instants after `since` at which the zone may start or stop applying to the drone."""
    spec = index.zones[position].spec
    out = [at for at in (spec.active_from, spec.active_until) if at is not None and at > since]
    if spec.schedule is not None:
        out.append(next_minute(since))
    for exemption in index.exemptions_for(position, serial):
        out += [at for at in (exemption.valid_from, exemption.valid_until) if at > since]
    return out


def dues(
    states: Sequence[DroneState], since: Sequence[datetime], index: ZoneIndex, config: EngineConfig
) -> list[datetime | None]:
    """due_at for many drones, their last positions located in one query."""
    if not states:
        return []
    lons = np.fromiter((s.last.lon for s in states), np.float64, len(states))
    lats = np.fromiter((s.last.lat for s in states), np.float64, len(states))
    located = index.locate(lons, lats)
    placed: list[list[int]] = [[] for _ in states]
    for pairs in (located.zone, located.buffer):
        for point, position in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
            placed[point].append(position)
    return [
        due_at(state, at, index, config, here)
        for state, at, here in zip(states, since, placed, strict=True)
    ]
