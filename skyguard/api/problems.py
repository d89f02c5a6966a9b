"""RFC 9457 problem+json: one table from SkyguardError subclasses to HTTP statuses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from skyguard import errors
from skyguard.api.limits import BodyTooLarge

PROBLEM_TYPE = "application/problem+json"

STATUS: list[tuple[type[errors.SkyguardError], int, str]] = [
    (errors.InvalidGeometry, 422, "invalid-geometry"),
    (errors.InvalidInput, 422, "invalid-input"),
    (errors.TooLarge, 413, "too-large"),
    (errors.NotFound, 404, "not-found"),
    (errors.Conflict, 409, "conflict"),
    (errors.Unauthenticated, 401, "unauthenticated"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.DatabaseUnavailable, 503, "database-unavailable"),
]

TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Unprocessable content",
    503: "Service unavailable",
}


def problem(status: int, detail: str, *, kind: str = "about:blank", **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": kind if kind == "about:blank" else f"https://skyguard.dev/problems/{kind}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v is not None},
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def status_of(error: errors.SkyguardError) -> tuple[int, str]:
    """The HTTP status and problem type for a domain error."""
    for cls, status, kind in STATUS:
        if isinstance(error, cls):
            return status, kind
    return 500, "internal"


async def _skyguard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.SkyguardError)
    status, kind = status_of(exc)
    return problem(status, exc.detail, kind=kind, pointer=exc.pointer, **exc.extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"pointer": _pointer(e["loc"]), "detail": str(e["msg"])} for e in exc.errors()]
    if not problems:
        return problem(422, "invalid request", kind="invalid-input")
    pointer, message = problems[0]["pointer"], problems[0]["detail"]
    # the first error names the field at the top, like a domain error; all are in `errors`
    return problem(
        422, f"{pointer}: {message}", kind="invalid-input", pointer=pointer, errors=problems
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, BodyTooLarge):
        # FastAPI turns any error while reading the body into a 400; a streamed body (no
        # Content-Length) that passes the cap ends up here and is still a 413.
        limit = request.app.state.settings.max_body_bytes
        detail = f"request body is over the {limit}-byte limit"
        return problem(413, detail, kind="too-large")
    return problem(exc.status_code, str(exc.detail))


def _pointer(loc: Any) -> str:
    """A JSON pointer (for the body) or `query:name` (for parameters) from a pydantic location."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        return "/" + "/".join(parts[1:])
    if parts and parts[0] in ("query", "path", "header"):
        return f"{parts[0]}:{'.'.join(parts[1:])}"
    return "/" + "/".join(parts)


def install(app: FastAPI) -> None:
    """Register the handlers that render every error as problem+json."""
    app.add_exception_handler(errors.SkyguardError, _skyguard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
