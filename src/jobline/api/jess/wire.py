"""What every JESS-dialect route shares: the envelope, errors, the session cookie, times.

Answers are ``{"ok": true, "status": "<message>", "data": ...}``. A failure is the same
envelope with ``"ok": false`` and ``"data": null``, sent with the HTTP status of the one error
table (``api.errors.status_of``): 400 for bad input, 401 for a missing, forged, expired or
logged-out session, 404 for a job the caller may not see, 409, 413. (JESS itself answered some
failures with HTTP 200; its clients read ``ok`` and ``status`` either way, and a status code
lets curl and ``raise_for_status`` see the failure too.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse

from jobline.api.auth import session_tokens, store_of
from jobline.api.errors import dialect_route, status_of
from jobline.core import sessions
from jobline.domain.records import Principal
from jobline.errors import JoblineError, NotAuthenticated
from jobline.settings import Settings


def envelope(status: str, data: Any = None, *, ok: bool = True) -> dict[str, Any]:
    return {"ok": ok, "status": status, "data": data}


def error_response(error: JoblineError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Cookie"} if isinstance(error, NotAuthenticated) else None
    return JSONResponse(
        envelope(error.message, ok=False), status_code=status_of(error), headers=headers
    )


JessRoute = dialect_route(error_response)
"""A route whose jobline errors answer in the JESS envelope."""


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def caller(request: Request) -> Principal:
    """The caller, from the ``session_token`` cookie (FastAPI dependency); 401 without one."""
    secret = settings_of(request).resolved_secret()
    return sessions.authenticate_any(store_of(request), session_tokens(request), secret)


Caller = Annotated[Principal, Depends(caller)]


def set_session(request: Request, response: Response, session: sessions.Session) -> None:
    options = sessions.cookie_options(
        settings_of(request).session_hours, https=request.url.scheme == "https"
    )
    response.set_cookie(sessions.SESSION_COOKIE, session.token, **options)


def millis(moment: datetime | None) -> int:
    """Epoch milliseconds; 0 for what has not happened yet (JESS clients read longs, never null)."""
    return round(moment.timestamp() * 1000) if moment is not None else 0
