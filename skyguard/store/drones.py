"""The drone registry: drones by serial, their owners, and drones first seen in telemetry."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import Conflict, NotFound
from skyguard.store import audit, driver
from skyguard.store.keys import Caller
from skyguard.store.tables import Drone, Owner

OWNER_FIELDS = ("name", "phone", "id_number", "organisation")
DRONE_FIELDS = ("model", "registration_id", "notes")
# What q= looks in: the drone's own text and its owner's name and organisation.
SEARCHABLE = (
    Drone.serial,
    Drone.model,
    Drone.registration_id,
    Drone.notes,
    Owner.name,
    Owner.organisation,
)


@dataclass(frozen=True)
class OwnerSpec:
    """Who owns or flies a drone; id_number identifies the person across drones."""

    name: str | None = None
    phone: str | None = None
    id_number: str | None = None
    organisation: str | None = None

    def is_empty(self) -> bool:
        """True when no field is set."""
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True)
class DroneSpec:
    """A drone as an operator registers it."""

    serial: str
    model: str | None = None
    registration_id: str | None = None
    notes: str | None = None
    owner: OwnerSpec | None = None


@dataclass(frozen=True)
class DroneQuery:
    """Filters for listing drones, ordered by serial, after a serial cursor."""

    owner: str | None = None
    organisation: str | None = None
    text: str | None = None
    registered: bool | None = None
    after: str | None = None
    limit: int = 100


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def owner_json(owner: Owner | None) -> dict[str, Any] | None:
    """The owner as the API returns it, or None."""
    if owner is None:
        return None
    return {"id": str(owner.id), **{name: getattr(owner, name) for name in OWNER_FIELDS}}


def drone_json(drone: Drone, owner: Owner | None) -> dict[str, Any]:
    """The drone, its owner embedded, as the API returns it and the audit log keeps it."""
    return {
        "serial": drone.serial,
        **{name: getattr(drone, name) for name in DRONE_FIELDS},
        "owner": owner_json(owner),
        "registered": drone.registered,
        "first_seen_at": _iso(drone.first_seen_at),
        "created_at": _iso(drone.created_at),
        "updated_at": _iso(drone.updated_at),
    }


def _with_owner() -> Any:
    return select(Drone, Owner).outerjoin(Owner, Owner.id == Drone.owner_id)


async def load_drone(
    session: AsyncSession, serial: str, *, for_update: bool = False
) -> tuple[Drone, Owner | None]:
    """The drone and its owner (None if it has none), or NotFound."""
    query = _with_owner().where(Drone.serial == serial)
    query = query.execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update(of=Drone)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"no drone with serial {serial!r}")
    return row[0], row[1]


SUMMARIES = """
    SELECT d.serial, d.registered, d.model, d.registration_id,
           o.id, o.name, o.phone, o.id_number, o.organisation
    FROM drones d LEFT JOIN owners o ON o.id = d.owner_id
    WHERE d.serial = ANY(%(serials)b::text[])
"""


def _summaries(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for serial, registered, model, registration_id, owner_id, *owner in rows:
        found[serial] = {
            "serial": serial,
            "registered": registered,
            "model": model,
            "registration_id": registration_id,
            "owner": None
            if owner_id is None
            else {"id": str(owner_id), **dict(zip(OWNER_FIELDS, owner, strict=True))},
        }
    return found


async def send_summaries(
    connection: driver.Connection, serials: Sequence[str]
) -> driver.Pending[dict[str, dict[str, Any]]]:
    """Each drone as an alert shows it (serial, registration, owner), once read."""
    return await driver.query(connection, SUMMARIES, {"serials": list(serials)}, _summaries)


async def drone_body(session: AsyncSession, serial: str) -> dict[str, Any]:
    """The drone as JSON, or NotFound."""
    return drone_json(*await load_drone(session, serial))


async def _owner_id_for(session: AsyncSession, spec: OwnerSpec) -> uuid.UUID:
    """The owner row for `spec`: the one with its id_number (filling its blanks) or a new one."""
    values = {name: getattr(spec, name) for name in OWNER_FIELDS}
    statement = pg_insert(Owner).values(id=uuid.uuid4(), **values)
    if spec.id_number is not None:
        # Upsert, so two registrations of one person at once cannot both insert it.
        statement = statement.on_conflict_do_update(
            index_elements=[Owner.id_number],
            index_where=Owner.id_number.is_not(None),
            set_={
                name: func.coalesce(getattr(Owner, name), statement.excluded[name])
                for name in OWNER_FIELDS
            },
        )
    owner_id: uuid.UUID | None = await session.scalar(statement.returning(Owner.id))
    assert owner_id is not None  # both statements return the row they inserted or updated
    return owner_id


async def register_drone(session: AsyncSession, caller: Caller, spec: DroneSpec) -> dict[str, Any]:
    """Register a drone, or a seen one (keeping what was noted on it); Conflict if it already is."""
    # An owner whose id_number is stored is that person: reused, only its blanks filled.
    existing = await _existing(session, spec.serial)
    if existing is not None and existing[0].registered:
        raise Conflict(f"drone {spec.serial!r} is already registered", "/serial")
    before = drone_json(*existing) if existing is not None else None
    owner_id = None
    if spec.owner is not None and not spec.owner.is_empty():
        owner_id = await _owner_id_for(session, spec.owner)
    now = datetime.now(UTC)
    values = {name: getattr(spec, name) for name in DRONE_FIELDS}
    statement = pg_insert(Drone).values(
        serial=spec.serial,
        owner_id=owner_id,
        registered=True,
        created_at=now,
        updated_at=now,
        **values,
    )
    kept = {
        name: func.coalesce(statement.excluded[name], getattr(Drone, name))
        for name in (*DRONE_FIELDS, "owner_id")
    }
    # The WHERE keeps a registered drone untouched even if it was registered a moment ago.
    statement = statement.on_conflict_do_update(
        index_elements=[Drone.serial],
        set_={**kept, "registered": True, "updated_at": now},
        where=Drone.registered.is_(False),
    )
    if await session.scalar(statement.returning(Drone.serial)) is None:
        raise Conflict(f"drone {spec.serial!r} is already registered", "/serial")
    after = await drone_body(session, spec.serial)
    action = "create" if existing is None else "register"
    await audit.record(session, caller, action, "drone", spec.serial, before=before, after=after)
    return after


async def _existing(session: AsyncSession, serial: str) -> tuple[Drone, Owner | None] | None:
    try:
        return await load_drone(session, serial, for_update=True)
    except NotFound:
        return None


async def update_drone(
    session: AsyncSession, caller: Caller, serial: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change the given fields; owner changes go to the owner record, shared by all its drones."""
    # The record is the person, so correcting it on one drone corrects it for the others; a
    # drone without an owner gets one as at registration (a stored id_number is reused).
    drone, owner = await load_drone(session, serial, for_update=True)
    before = drone_json(drone, owner)
    for name in DRONE_FIELDS:
        if name in changes:
            setattr(drone, name, changes[name])
    if "owner" in changes:
        if changes["owner"] is None:
            drone.owner_id = None
        else:
            await _merge_owner(session, drone, owner, changes["owner"])
    await _flush(session)
    after = await drone_body(session, serial)
    if after == before:
        return after  # nothing changed: no new updated_at, no audit entry
    drone.updated_at = datetime.now(UTC)
    await session.flush()
    after["updated_at"] = _iso(drone.updated_at)
    await audit.record(session, caller, "update", "drone", serial, before=before, after=after)
    return after


async def _merge_owner(
    session: AsyncSession, drone: Drone, owner: Owner | None, changes: dict[str, Any]
) -> None:
    if owner is None:
        spec = OwnerSpec(**changes)
        if not spec.is_empty():
            drone.owner_id = await _owner_id_for(session, spec)
        return
    id_number = changes.get("id_number")
    if id_number is not None and id_number != owner.id_number:
        holder = await session.scalar(select(Owner.id).where(Owner.id_number == id_number))
        if holder is not None:
            detail = f"id_number {id_number!r} is another owner's; unlink (owner: null) first"
            raise Conflict(detail, "/owner/id_number")
    for name, value in changes.items():
        setattr(owner, name, value)


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as error:  # a concurrent edit took the id_number since we looked
        raise Conflict("the owner's id_number is taken", "/owner/id_number") from error


def search_condition(query: DroneQuery) -> ColumnElement[bool]:
    """The WHERE clause of a drone search (owner and organisation match the embedded owner)."""
    conditions: list[ColumnElement[bool]] = []
    if query.owner is not None:
        conditions.append(
            or_(
                Owner.name.icontains(query.owner, autoescape=True),
                Owner.id_number == query.owner,
                Owner.phone == query.owner,
            )
        )
    if query.organisation is not None:
        conditions.append(Owner.organisation.icontains(query.organisation, autoescape=True))
    if query.text is not None:
        conditions.append(or_(*(c.icontains(query.text, autoescape=True) for c in SEARCHABLE)))
    if query.registered is not None:
        conditions.append(Drone.registered.is_(query.registered))
    if query.after is not None:
        conditions.append(Drone.serial > query.after)
    return and_(true(), *conditions)


async def list_drones(
    session: AsyncSession, query: DroneQuery
) -> Sequence[tuple[Drone, Owner | None]]:
    """Drones matching the query by serial, at most limit + 1 (to know there is more)."""
    statement = (
        _with_owner()
        .where(search_condition(query))
        .order_by(Drone.serial)
        .limit(query.limit + 1)
        .execution_options(populate_existing=True)
    )
    return [(row[0], row[1]) for row in (await session.execute(statement)).all()]


ENSURE_SEEN = """
    INSERT INTO drones (serial, first_seen_at, registered)
    SELECT s.serial, s.first_seen_at, false
    FROM unnest(%(serials)b::text[], %(times)b::timestamptz[]) AS s(serial, first_seen_at)
    ON CONFLICT (serial) DO NOTHING
"""


async def send_seen(
    connection: driver.Connection, serials_with_times: Mapping[str, datetime]
) -> None:
    """Insert serials not yet known as unregistered drones first seen then; known ones unchanged."""
    if not serials_with_times:
        return
    # Sorted, so concurrent batches take the same keys in the same order (no deadlock); unnest
    # of two arrays keeps it one statement with two parameters however large the batch.
    serials = sorted(serials_with_times)
    times = [serials_with_times[s] for s in serials]
    await driver.send(connection, ENSURE_SEEN, {"serials": serials, "times": times})


async def ensure_seen(session: AsyncSession, serials_with_times: Mapping[str, datetime]) -> None:
    """Insert serials not yet known as unregistered drones first seen then; known ones unchanged."""
    await send_seen(await driver.connection_of(session), serials_with_times)
