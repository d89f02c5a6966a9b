"""FastAPI dependencies as Annotated aliases: the session, the settings, the caller and its role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import Forbidden, Unauthenticated
from skyguard.settings import Settings
from skyguard.store.db import Database
from skyguard.store.keys import Caller, CallerCache


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed before the response is sent, rolled back on error."""
    database: Database = request.app.state.db
    async with database.session() as session:
        yield session


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


# scope="function": the commit runs before the response goes out, so a 2xx means committed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def bearer_secret(header: str) -> str | None:
    """The key in an `Authorization: Bearer <key>` header's value, or None."""
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


async def current_caller(request: Request) -> Caller:
    """The caller named by `Authorization: Bearer <key>`; 401 when absent or unknown.

    The key is looked up in a short session of its own, so a request that then waits (for a
    group commit, say) does not hold a pooled connection meanwhile."""
    secret = bearer_secret(request.headers.get("authorization", ""))
    if secret is None:
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    callers: CallerCache = request.app.state.callers
    database: Database = request.app.state.db
    caller = await callers.find(database.session, secret)
    if caller is None:
        raise Unauthenticated("unknown or revoked API key")
    return caller


async def caller_in_role(request: Request, roles: tuple[str, ...]) -> Caller:
    """The caller, if admin or in one of `roles`; 401 or 403 otherwise."""
    caller = await current_caller(request)
    if caller.role != "admin" and caller.role not in roles:
        allowed = ", ".join(("admin", *roles))
        raise Forbidden(f"role {caller.role!r} may not do this (allowed: {allowed})")
    return caller


def require(*roles: str) -> Callable[[Request], Coroutine[Any, Any, Caller]]:
    """A dependency admitting admin and the given roles; 403 for any other role."""

    async def check(request: Request) -> Caller:
        return await caller_in_role(request, roles)

    return check


AdminKey = Annotated[Caller, Depends(require())]
OperatorKey = Annotated[Caller, Depends(require("operator"))]
ReaderKey = Annotated[Caller, Depends(require("operator", "reviewer"))]  # zones, history, stats
DroneReaderKey = Annotated[Caller, Depends(require("operator", "integrator", "reviewer"))]
TelemetryKey = Annotated[Caller, Depends(require("integrator"))]
AuditReaderKey = Annotated[Caller, Depends(require("reviewer"))]
