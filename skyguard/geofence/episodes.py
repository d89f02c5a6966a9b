"""Alert episodes of one drone: the state kept between batches and the transitions it emits.

One episode per (drone, zone, alert kind) from open to close; the caller turns each episode into
one alert. A Ledger is the mutable working copy used while a batch or a clock tick is applied.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from skyguard.geofence.breach import AlertKind, Severity, severity_of
from skyguard.geofence.index import IndexedZone
from skyguard.geofence.reports import Report

TransitionKind = Literal["open", "update", "close"]
CloseReason = Literal["exited", "lost_contact", "zone_ended", "exempted", "crossed"]
EpisodeKey = tuple[uuid.UUID, AlertKind]
Position = tuple[float, float]


@dataclass(frozen=True)
class EngineConfig:
    """Hysteresis and silence settings of the transition logic."""

    exit_distance_m: float = 20.0  # this far outside closes at once
    exit_time_s: float = 30.0  # continuously outside this long closes
    silence_timeout_s: float = 60.0  # no report for longer than this closes as lost_contact
    max_segment_speed_mps: float = 150.0  # a faster jump between reports is a glitch, not flight

    @property
    def exit_time(self) -> timedelta:
        """exit_time_s as a timedelta."""
        return timedelta(seconds=self.exit_time_s)

    @property
    def silence_timeout(self) -> timedelta:
        """silence_timeout_s as a timedelta."""
        return timedelta(seconds=self.silence_timeout_s)


@dataclass(frozen=True)
class Episode:
    """An open alert episode of one drone in one zone, as kept between batches."""

    zone_id: uuid.UUID
    kind: AlertKind
    zone_version: int
    severity: Severity
    opened_at: datetime
    entry: Position
    position: Position  # the latest position that counted as inside
    last_inside_at: datetime
    depth_m: float
    max_depth_m: float
    altitude_assumed: bool
    outside_since: datetime | None = None  # first report outside since the last inside one

    @property
    def key(self) -> EpisodeKey:
        """(zone_id, kind): at most one open episode per key."""
        return (self.zone_id, self.kind)


@dataclass(frozen=True)
class DroneState:
    """What the engine remembers of one drone: its latest report and its open episodes."""

    serial: str
    last: Report
    episodes: tuple[Episode, ...] = ()

    @property
    def last_time(self) -> datetime:
        """The time of the latest report applied."""
        return self.last.time


@dataclass(frozen=True)
class Transition:
    """An alert opened, updated or closed: what the caller persists and delivers.

    `at` is the entry time for an open, the latest report inside for an update, and the moment
    the closing rule fired for a close. `depth_m` is the latest depth inside (negative: metres
    outside, for an approach) and `opened_at` with (serial, zone_id, alert_kind) names the episode.
    """

    kind: TransitionKind
    serial: str
    zone_id: uuid.UUID
    zone_version: int
    alert_kind: AlertKind
    severity: Severity
    at: datetime
    position: Position
    entry: Position
    depth_m: float
    max_depth_m: float
    opened_at: datetime
    altitude_assumed: bool
    close_reason: CloseReason | None = None


@dataclass(frozen=True)
class Sighting:
    """A place and time that counts as inside an episode, with its depth."""

    at: datetime
    position: Position
    depth_m: float
    altitude_assumed: bool


class Ledger:
    """A drone's episodes while a batch is applied; records transitions as they happen.

    Sightings inside an open episode are the common case, one per report: they are kept as the
    latest one per episode and folded into the frozen Episode only when it is next needed.
    """

    def __init__(self, serial: str, episodes: tuple[Episode, ...] = ()) -> None:
        """Start from the drone's open episodes."""
        self.serial = serial
        self._episodes: dict[EpisodeKey, Episode] = {e.key: e for e in episodes}
        self._latest: dict[EpisodeKey, tuple[IndexedZone, Sighting, float]] = {}
        self._seen: set[EpisodeKey] = set()  # episodes with a sighting since their open
        self.transitions: list[Transition] = []

    def open_keys(self) -> list[EpisodeKey]:
        """The keys of the open episodes."""
        return list(self._episodes)

    def __contains__(self, key: EpisodeKey) -> bool:
        """Whether an episode is open for the key."""
        return key in self._episodes

    def episode(self, key: EpisodeKey) -> Episode:
        """The open episode for the key, up to date."""
        latest = self._latest.pop(key, None)
        episode = self._episodes[key]
        if latest is not None:
            zone, sighting, max_depth_m = latest
            episode = Episode(  # not dataclasses.replace: this runs once a report in a zone
                zone_id=episode.zone_id,
                kind=episode.kind,
                zone_version=zone.version,
                severity=severity_of(key[1], zone.spec.category),
                opened_at=episode.opened_at,
                entry=episode.entry,
                position=sighting.position,
                last_inside_at=sighting.at,
                depth_m=sighting.depth_m,
                max_depth_m=max_depth_m,
                altitude_assumed=sighting.altitude_assumed,
                outside_since=None,
            )
            self._episodes[key] = episode
        return episode

    def open(self, zone: IndexedZone, kind: AlertKind, sighting: Sighting) -> None:
        """Open an episode at a sighting, which is also its entry point."""
        episode = Episode(
            zone_id=zone.id,
            kind=kind,
            zone_version=zone.version,
            severity=severity_of(kind, zone.spec.category),
            opened_at=sighting.at,
            entry=sighting.position,
            position=sighting.position,
            last_inside_at=sighting.at,
            depth_m=sighting.depth_m,
            max_depth_m=sighting.depth_m,
            altitude_assumed=sighting.altitude_assumed,
        )
        self._episodes[episode.key] = episode
        self._seen.discard(episode.key)
        self._emit("open", episode, sighting.at, sighting.position)

    def see(self, key: EpisodeKey, zone: IndexedZone, sighting: Sighting) -> None:
        """A report inside an open episode: it stays open and its latest place moves."""
        if self._episodes[key].outside_since is not None:
            self.episode(key)  # fold earlier sightings before the exit clock is stopped
            self._episodes[key] = replace(self._episodes[key], outside_since=None)
        latest = self._latest.get(key)
        deepest = self._episodes[key].max_depth_m if latest is None else latest[2]
        self._latest[key] = (zone, sighting, max(deepest, sighting.depth_m))
        self._seen.add(key)

    def outside_since(self, key: EpisodeKey) -> datetime | None:
        """When the drone was first seen outside the open episode since its last sighting."""
        return self._episodes[key].outside_since

    def graze(self, key: EpisodeKey, entered: datetime, left: datetime, depth_m: float) -> None:
        """A segment passed through the zone of an open episode: it was inside, briefly."""
        episode = self.episode(key)
        self._episodes[key] = replace(
            episode,
            last_inside_at=max(episode.last_inside_at, entered),
            max_depth_m=max(episode.max_depth_m, depth_m),
            outside_since=left,
        )

    def leave(self, key: EpisodeKey, at: datetime) -> None:
        """A report outside an open episode, not far enough out to close it yet."""
        episode = self.episode(key)
        if episode.outside_since is None:
            self._episodes[key] = replace(episode, outside_since=at)

    def close(self, key: EpisodeKey, reason: CloseReason, at: datetime, position: Position) -> None:
        """Close an episode for a reason, at an instant and a last known position."""
        episode = self.episode(key)
        del self._episodes[key]
        self._seen.discard(key)
        self._emit("close", episode, at, position, reason)

    def flush_updates(self) -> None:
        """One update per episode still open that was seen inside after it opened."""
        for key in sorted(self._seen & self._episodes.keys(), key=_in_order):
            episode = self.episode(key)
            self._emit("update", episode, episode.last_inside_at, episode.position)
        self._seen.clear()

    def state(self, last: Report) -> DroneState:
        """The frozen state after the batch, with `last` as the latest report."""
        episodes = tuple(self.episode(key) for key in list(self._episodes))
        return DroneState(self.serial, last, episodes)

    def _emit(
        self,
        kind: TransitionKind,
        episode: Episode,
        at: datetime,
        position: Position,
        reason: CloseReason | None = None,
    ) -> None:
        """Record a transition of an episode."""
        self.transitions.append(
            Transition(
                kind=kind,
                serial=self.serial,
                zone_id=episode.zone_id,
                zone_version=episode.zone_version,
                alert_kind=episode.kind,
                severity=episode.severity,
                at=at,
                position=position,
                entry=episode.entry,
                depth_m=episode.depth_m,
                max_depth_m=episode.max_depth_m,
                opened_at=episode.opened_at,
                altitude_assumed=episode.altitude_assumed,
                close_reason=reason,
            )
        )


def _in_order(key: EpisodeKey) -> tuple[int, str]:
    """A stable order of episode keys: by zone id, then kind."""
    return (key[0].int, key[1])
