"""Drone registry bodies and responses, and their conversion to domain values."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from skyguard.store.drones import DroneSpec, OwnerSpec

Serial = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class Body(BaseModel):
    """Finite numbers only; unknown fields ignored."""

    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")


class OwnerIn(Body):
    """The owner or pilot; a stored owner with the same id_number is the same person."""

    name: Text | None = None
    phone: Text | None = None
    id_number: Text | None = Field(None, description="National id or licence number.")
    organisation: Text | None = None

    @model_validator(mode="after")
    def not_empty(self) -> OwnerIn:
        """An owner must say something about the person."""
        if all(v is None for v in (self.name, self.phone, self.id_number, self.organisation)):
            raise ValueError("owner needs at least one of name, phone, id_number, organisation")
        return self


class DroneIn(Body):
    """A drone to register."""

    serial: Serial = Field(description="The serial as the drone reports it in telemetry.")
    model: Text | None = None
    registration_id: Text | None = Field(None, description="The authority's registration id.")
    owner: OwnerIn | None = None
    notes: Notes | None = None


class OwnerPatch(Body):
    """Owner fields to change; null clears one."""

    name: Text | None = None
    phone: Text | None = None
    id_number: Text | None = None
    organisation: Text | None = None


class DronePatch(Body):
    """Fields to change; absent ones stay, null clears one; owner null unlinks the owner."""

    model: Text | None = None
    registration_id: Text | None = None
    owner: OwnerPatch | None = None
    notes: Notes | None = None


class OwnerOut(BaseModel):
    """An owner as stored."""

    id: uuid.UUID
    name: str | None
    phone: str | None
    id_number: str | None
    organisation: str | None


class DroneOut(BaseModel):
    """A drone with its owner embedded."""

    serial: str
    model: str | None
    registration_id: str | None
    owner: OwnerOut | None
    notes: str | None
    registered: bool = Field(description="False: only seen in telemetry (non-cooperative).")
    first_seen_at: datetime | None = Field(description="First telemetry report, if any.")
    created_at: datetime
    updated_at: datetime


class DroneList(BaseModel):
    """One page of drones and the link to the next, if any."""

    drones: list[DroneOut]
    next: str | None


def spec_from_body(body: DroneIn) -> DroneSpec:
    """The domain value of a registration body."""
    owner = OwnerSpec(**body.owner.model_dump()) if body.owner is not None else None
    return DroneSpec(
        serial=body.serial,
        model=body.model,
        registration_id=body.registration_id,
        notes=body.notes,
        owner=owner,
    )


def changes_from_patch(body: DronePatch) -> dict[str, Any]:
    """The fields the patch names, with their new values (owner as a dict of its named fields)."""
    return body.model_dump(exclude_unset=True)
