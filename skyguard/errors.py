"""The SkyguardError tree: what domain code raises. No HTTP in here; api/problems.py maps it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SkyguardError(Exception):
    """Base of every error skyguard raises on purpose."""

    detail: str
    pointer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f" at {self.pointer}" if self.pointer else ""
        return f"{self.detail}{where}"


class InvalidInput(SkyguardError):
    """A request body or parameter is well-formed JSON but makes no sense."""


class InvalidGeometry(InvalidInput):
    """A geometry cannot be stored: self-intersecting, unclosed, out of range, ..."""


class TooLarge(SkyguardError):
    """A body or geometry is over a configured cap."""


class NotFound(SkyguardError):
    """The object asked for does not exist."""


class Conflict(SkyguardError):
    """The write clashes with what is stored (a duplicate serial, a stale version)."""


class Unauthenticated(SkyguardError):
    """No API key, or one we do not know."""


class Forbidden(SkyguardError):
    """The key's role may not do this."""


class DatabaseUnavailable(SkyguardError):
    """The embedded or configured database cannot be reached or started."""
