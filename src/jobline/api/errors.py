"""Turning errors into HTTP answers: one status table for the native API, one handler."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobline import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.JoblineError], int] = {
    errors.InvalidRequest: 400,
    errors.NotAuthenticated: 401,
    errors.NotAllowed: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.ServiceUnavailable: 503,
}


def status_of(error: errors.JoblineError) -> int:
    """The HTTP status of an error: that of its nearest class in the table."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(error: errors.JoblineError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, errors.NotAuthenticated) else None
    return JSONResponse(error.to_dict(), status_code=status_of(error), headers=headers)


def install(app: FastAPI) -> None:
    """Answer every failure with ``{"error", "message", "details"}`` and a fitting status."""

    @app.exception_handler(errors.JoblineError)
    async def jobline_error(_request: Request, exc: errors.JoblineError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_from_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": code, "message": str(exc.detail), "details": {}}
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        body = {"error": "internal", "message": "internal server error", "details": {}}
        return JSONResponse(body, status_code=500)


def _from_validation(exc: RequestValidationError) -> errors.InvalidRequest:
    problems = []
    first_param = ""
    for item in exc.errors():
        location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query")]
        param = ".".join(location) or "body"
        first_param = first_param or param
        problems.append(f"{param}: {item.get('msg', 'invalid')}")
    return errors.InvalidRequest(
        "invalid request: " + "; ".join(problems), param=first_param, problems=problems
    )


def dialect_route(render: Callable[[errors.JoblineError], Response]) -> type[APIRoute]:
    """A route class whose jobline errors answer through ``render``: a dialect's error body
    (Modzy's, JESS's) with the status of the one table above."""

    class DialectRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handler(request)
                except errors.JoblineError as exc:
                    return render(exc)

            return answer

    return DialectRoute


Body = TypeVar("Body", bound=BaseModel)


def parsed(schema: type[Body], data: bytes, what: str, param: str) -> Body:
    """``data`` read as JSON into ``schema``; InvalidRequest naming every problem otherwise."""
    try:
        return schema.model_validate_json(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or param}: {e['msg']}" for e in exc.errors()
        ]
        raise errors.InvalidRequest(
            f"invalid {what}: " + "; ".join(problems), param=param, problems=problems
        ) from exc
