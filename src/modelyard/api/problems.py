"""The one JSON shape of every API error, for the exception handlers and the middleware.

`{"ok": false, "error": {"code", "message", "field"}, "errors": [problems], "status"}`;
a ModelyardError brings its own code and `http_status`.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from modelyard.errors import ModelyardError, Problem, TooManyAttempts, VersionConflict


def error_body(
    code: str,
    message: str,
    status: int,
    field: str | None = None,
    problems: list[Problem] | None = None,
) -> dict[str, Any]:
    """The error document (see the module docstring)."""
    problems = problems or []
    if field is None:
        field = next((p.field for p in problems if p.field), None)
    return {
        "ok": False,
        "error": {"code": code, "message": message, "field": field},
        "errors": [p.to_dict() for p in problems],
        "status": status,
    }


def error_response(exc: ModelyardError) -> JSONResponse:
    """A ModelyardError as its HTTP status and the error document (401 names the scheme,
    429 says when to retry)."""
    field = (
        exc.differing_fields[0]
        if isinstance(exc, VersionConflict) and exc.differing_fields
        else None
    )
    headers: dict[str, str] | None = None
    if exc.http_status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse(
        error_body(exc.code, exc.message, exc.http_status, field, exc.problems),
        status_code=exc.http_status,
        headers=headers,
    )
