"""Zones and exemptions from PostGIS into the engine's in-memory index, rebuilt when stale."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.index import Exemption, IndexedZone, ZoneIndex
from skyguard.geofence.zones import ZoneSpec
from skyguard.store import revision
from skyguard.store.tables import Exemption as ExemptionRow
from skyguard.store.tables import Zone
from skyguard.store.zones import spec_of

ZONES_PER_READ = 500  # zones are read and parsed this many at a time


async def load_indexed_zones(
    session: AsyncSession, previous: ZoneIndex | None = None
) -> list[IndexedZone]:
    """Every zone not archived, with its exemptions (a revoked one ends when it was revoked).

    A zone that `previous` holds at the same version keeps its parsed spec (every edit makes a
    new version), so a refresh after one edit reads and parses that zone alone, and the shapes
    of the others, with what GEOS prepared for them, carry over. Rows are read a few hundred at
    a time and parsed as they come, so the stored form (WKB and ORM rows) of ten thousand zones
    is never all in memory at once beside the parsed shapes.
    """
    rows = (await session.scalars(select(ExemptionRow))).all()
    by_zone: dict[object, list[Exemption]] = defaultdict(list)
    for row in rows:
        until = min(row.valid_until, row.revoked_at) if row.revoked_at else row.valid_until
        if until > row.valid_from:
            by_zone[row.zone_id].append(
                Exemption(row.serial, row.valid_from, until, row.floor_m, row.ceiling_m)
            )
    live = Zone.archived_at.is_(None)
    listed = (await session.execute(select(Zone.id, Zone.version).where(live))).all()
    specs: dict[uuid.UUID, ZoneSpec] = {}
    versions: dict[uuid.UUID, int] = {}
    stale: list[uuid.UUID] = []
    for zone_id, version in listed:
        versions[zone_id] = version
        kept = _kept_spec(previous, zone_id, version)
        if kept is None:
            stale.append(zone_id)
        else:
            specs[zone_id] = kept
    for start in range(0, len(stale), ZONES_PER_READ):
        chunk = stale[start : start + ZONES_PER_READ]
        part = (await session.scalars(select(Zone).where(Zone.id.in_(chunk), live))).all()
        for z in part:  # the session holds unchanged rows only weakly: they go with `part`
            specs[z.id], versions[z.id] = spec_of(z), z.version
    return [
        IndexedZone(zone_id, versions[zone_id], specs[zone_id], tuple(by_zone.get(zone_id, ())))
        for zone_id in sorted(specs)
    ]


def _kept_spec(previous: ZoneIndex | None, zone_id: uuid.UUID, version: int) -> ZoneSpec | None:
    """The spec `previous` holds for this version of the zone, if it does."""
    position = previous.position(zone_id) if previous is not None else None
    if previous is None or position is None or previous.zones[position].version != version:
        return None
    return previous.zones[position].spec


class ZoneIndexCache:
    """This process's zone index and the revision it was built at."""

    def __init__(
        self,
        *,
        freeze_heap: bool = False,
        index: ZoneIndex | None = None,
        revision: int = -1,
        forked: bool = False,
    ) -> None:
        """An empty index, or `index` as built at zone `revision`; with freeze_heap, each new
        index is settled (see settle_heap); `forked`: this process shares its frozen heap with
        the process it was forked from, so settling leaves what is frozen frozen."""
        self.freeze_heap = freeze_heap
        self.forked = forked
        self.index = index if index is not None else ZoneIndex.build([])
        self.revision = revision if index is not None else -1
        self._lock = asyncio.Lock()

    async def current(self, session: AsyncSession, seen: int | None = None) -> ZoneIndex:
        """The index as of the session's view, or of the zone revision `seen` already read in
        it: rebuilt (off the event loop) when stale."""
        if seen is None:
            seen = await revision.current(session)
        if seen <= self.revision:
            return self.index
        async with self._lock:
            if seen > self.revision:
                zones = await load_indexed_zones(session, self.index)
                previous = self.index
                self.index = await asyncio.to_thread(ZoneIndex.build, zones, previous)
                self.revision = seen
                if self.freeze_heap:
                    settle_heap(unfreeze=not self.forked)
        return self.index


def settle_heap(*, unfreeze: bool = True) -> None:
    """Collect garbage, then move every object still alive into the collector's permanent
    generation, where full collections no longer walk it.

    The zone index is millions of objects at ten thousand zones and lives until the next zone
    edit; walking it made every full collection a 100 ms pause, every second or two under load.
    It holds no reference cycles, so an index replaced later is still freed (by reference
    counting). Objects frozen while alive that later end up in cyclic garbage (a request in
    flight at the time, say) are collected at the next settling: it unfreezes everything first.

    A worker forked from a process that built the index shares those pages with it and with
    the other workers, and a collection writes to the header of each object it walks: after
    an unfreeze that copied every shared page holding an object (70 MB more across two
    workers at the first zone edit, with only a handful of zones). There `unfreeze=False`
    collects only what is not frozen and freezes what survives; what was frozen before stays
    frozen, so cyclic garbage among it (a request in flight at an earlier settling) is
    never collected: a few kilobytes per zone edit.
    """
    if unfreeze:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
