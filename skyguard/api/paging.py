"""Keyset paging: opaque cursors, clamped limits and the `next` link."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request

from skyguard.errors import InvalidInput
from skyguard.settings import Settings

Limit = Annotated[int | None, Query(description="Page size, clamped to the maximum.")]
Cursor = Annotated[str | None, Query(description="From a `next` link.")]


def clamp_limit(limit: int | None, settings: Settings) -> int:
    """The page size asked for, clamped to [1, the configured maximum]; never an error."""
    if limit is None:
        return settings.page_limit_default
    return max(1, min(limit, settings.page_limit_max))


def encode_cursor(*values: Any) -> str:
    """An opaque cursor from the sort key of the last item on a page."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


T = TypeVar("T")


def split_page(rows: Sequence[T], page_size: int) -> tuple[Sequence[T], T | None]:
    """The page out of limit + 1 rows, and its last row when another page follows."""
    page = rows[:page_size]
    return page, (page[-1] if len(rows) > page_size and page else None)


def decode_cursor(cursor: str, size: int) -> list[str]:
    """The `size` strings an encode_cursor cursor holds, or InvalidInput."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidInput("cursor is not one this API handed out", "query:cursor")
    if not all(isinstance(v, str) for v in values):
        raise InvalidInput("cursor is not one this API handed out", "query:cursor")
    return values


def decode_time_id_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """A (time, uuid) cursor, or InvalidInput."""
    if cursor is None:
        return None
    at, ident = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except ValueError:
        raise InvalidInput("cursor is not one this API handed out", "query:cursor") from None


def decode_time_serial_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """A (time, serial) cursor, or InvalidInput."""
    if cursor is None:
        return None
    at, serial = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), serial
    except ValueError:
        raise InvalidInput("cursor is not one this API handed out", "query:cursor") from None


def next_link(request: Request, cursor: str | None) -> str | None:
    """The URL of the next page, or None on the last one."""
    if cursor is None:
        return None
    return str(request.url.include_query_params(cursor=cursor))
