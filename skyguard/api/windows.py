"""Time windows of query parameters: `since` (inclusive) and `until` (exclusive), checked alike
by every route; reviewer routes default them to the last 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from pydantic import AwareDatetime

from skyguard.errors import InvalidInput
from skyguard.store.zones import iso_utc

DEFAULT_SPAN = timedelta(hours=24)
Since = Annotated[
    AwareDatetime | None,
    Query(description="RFC 3339, inclusive. Default: 24 hours before `until`."),
]
Until = Annotated[AwareDatetime | None, Query(description="RFC 3339, exclusive. Default: now.")]
OpenSince = Annotated[
    AwareDatetime | None, Query(description="RFC 3339: from this time (inclusive).")
]
OpenUntil = Annotated[
    AwareDatetime | None, Query(description="RFC 3339: up to this time (exclusive).")
]


def check_window(since: datetime | None, until: datetime | None) -> None:
    """InvalidInput unless until is after since (either may be open)."""
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be after since", "query:until")


def resolve_window(
    since: datetime | None, until: datetime | None, span: timedelta = DEFAULT_SPAN
) -> tuple[datetime, datetime]:
    """[since, until): until defaults to now, since to `span` before until; until must be later."""
    end = until if until is not None else datetime.now(UTC)
    start = since if since is not None else end - span
    check_window(start, end)
    return start, end


def window_json(since: datetime, until: datetime) -> dict[str, Any]:
    """The window a response covers, as RFC 3339 UTC."""
    return {"since": iso_utc(since), "until": iso_utc(until)}
