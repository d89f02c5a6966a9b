"""API keys: issued once in clear, stored as SHA-256, looked up by hash."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import InvalidInput
from skyguard.store.tables import ROLES, ApiKey

KEY_PREFIX = "sg_"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id, name and role."""

    key_id: uuid.UUID | None
    name: str
    role: str


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: the secret is shown this once and never again."""

    caller: Caller
    secret: str


def hash_secret(secret: str) -> str:
    """The stored form of a key (keys are 256 random bits, so a plain SHA-256 is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(session: AsyncSession, *, role: str, name: str) -> IssuedKey:
    """Issue a new key with `role`."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", pointer="/role")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=uuid.uuid4(), name=name, role=role, prefix=secret[:10], key_hash=hash_secret(secret)
    )
    session.add(row)
    await session.flush()
    return IssuedKey(Caller(row.id, name, role), secret)


async def find_caller(session: AsyncSession, secret: str) -> Caller | None:
    """The live key matching `secret`, if any."""
    row = await session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_secret(secret), ApiKey.revoked_at.is_(None))
    )
    return Caller(row.id, row.name, row.role) if row else None


async def count_keys(session: AsyncSession, role: str) -> int:
    """How many live keys have `role`."""
    rows = await session.scalars(
        select(ApiKey.id).where(ApiKey.role == role, ApiKey.revoked_at.is_(None))
    )
    return len(rows.all())


class CallerCache:
    """Recently found callers by key hash, kept `ttl_s` seconds: a hot client's requests skip
    the key lookup. A key revoked in the database stops working within `ttl_s`."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._found: dict[str, tuple[float, Caller]] = {}

    async def find(
        self, session: Callable[[], AbstractAsyncContextManager[AsyncSession]], secret: str
    ) -> Caller | None:
        """The live key matching `secret`: from the cache while fresh, else looked up in a
        session opened with `session()`."""
        digest = hash_secret(secret)
        now = self._clock()
        held = self._found.get(digest)
        if held is not None and now - held[0] < self._ttl_s:
            return held[1]
        async with session() as opened:
            caller = await find_caller(opened, secret)
        if caller is None:
            self._found.pop(digest, None)
        else:
            if len(self._found) > 10_000:  # only guessed keys pile up; start afresh
                self._found.clear()
            self._found[digest] = (now, caller)
        return caller
