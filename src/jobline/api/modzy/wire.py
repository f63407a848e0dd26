"""What every Modzy-dialect route shares: error bodies, the ApiKey header, times and durations.

Errors keep the one status table (``api.errors.status_of``); only the body differs from the
native API: ``{"statusCode": 404, "status": "Not Found", "message": "..."}``, the shape Modzy's
server sent and its SDKs read ``message`` from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from jobline.api.auth import store_of
from jobline.api.errors import dialect_route, status_of
from jobline.core import auth
from jobline.domain.records import Principal
from jobline.errors import JoblineError, NotAuthenticated

_KEY_FORM = "'ApiKey <prefix>.<secret>'"


def error_response(error: JoblineError) -> JSONResponse:
    code = status_of(error)
    body = {"statusCode": code, "status": HTTPStatus(code).phrase, "message": error.message}
    headers = {"WWW-Authenticate": "ApiKey"} if isinstance(error, NotAuthenticated) else None
    return JSONResponse(body, status_code=code, headers=headers)


ModzyRoute = dialect_route(error_response)
"""A route whose jobline errors answer in Modzy's error shape."""


def caller(request: Request) -> Principal:
    """The caller, from ``Authorization: ApiKey <prefix>.<secret>`` (FastAPI dependency)."""
    header = request.headers.get("authorization")
    token = None
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "apikey" or not token.strip():
            raise NotAuthenticated(
                f"the Authorization header must be {_KEY_FORM}", param="Authorization"
            )
    return auth.authenticate_key(store_of(request), token)


Caller = Annotated[Principal, Depends(caller)]


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC, with milliseconds and an explicit offset.

    >>> timestamp(datetime(2024, 5, 1, 10, tzinfo=UTC))
    '2024-05-01T10:00:00.000+00:00'
    """
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def millis(seconds: float) -> int:
    """A duration in whole milliseconds, Modzy's unit for every time span."""
    return round(seconds * 1000)


def millis_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return millis((end - start).total_seconds())


def without_none(values: dict[str, Any]) -> dict[str, Any]:
    """The entries that have a value: Modzy leaves out what is not known yet, never sends null."""
    return {name: value for name, value in values.items() if value is not None}
