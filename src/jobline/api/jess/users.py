"""JESS's Users API, ``/users/api``: log on with email and password, renew, log off.

The session is the dashboard's: a JWT in the ``session_token`` cookie (``core.sessions``), set
for the whole site, so both ``/users/api`` and ``/jess_web/api`` (and the dashboard) receive
it. Bodies never carry the token: ``jwt`` only says where it is, as JESS's did.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from jobline.api.auth import session_tokens, store_of
from jobline.api.errors import parsed
from jobline.api.jess.wire import Caller, JessRoute, set_session, settings_of
from jobline.core import sessions
from jobline.core.auth import authenticate_password
from jobline.domain.records import User

router = APIRouter(prefix="/users/api", route_class=JessRoute, tags=["JESS dialect"])

INFO = {
    "Title": "Users Web API",
    "Description": "jobline's rendition of the ENSIMS Users API: log on, renew, log off.",
    "Major": 1,
    "Minor": 0,
    "Revision": 0,
    "Release": "jobline",
    "Update": 0,
    "Notice": "Served by jobline.",
}


class Credentials(BaseModel):
    email: str
    password: str


@router.get("/info", summary="Version (JESS Users API)")
def info() -> dict[str, Any]:
    return INFO


@router.post("/auth", summary="Log on (JESS Users API)")
async def auth(request: Request) -> Response:
    """Check ``{"email", "password"}`` and set the ``session_token`` cookie."""
    body = parsed(Credentials, await request.body(), "log-on body", "body")
    store, settings = store_of(request), settings_of(request)
    user = await run_in_threadpool(authenticate_password, store, body.email, body.password)
    session = await run_in_threadpool(
        sessions.open_session, store, user, settings.resolved_secret(), hours=settings.session_hours
    )
    response = JSONResponse(_auth_object("Logged in successfully!", user))
    set_session(request, response, session)
    return response


router.add_api_route(
    "/logon", auth, methods=["POST"], summary="Log on (alias of /auth)", include_in_schema=False
)


@router.post("/checkin", summary="Renew the session (JESS Users API)")
def checkin(request: Request, caller: Caller) -> Response:
    """A new token for the session's user, in the cookie; the old one runs out on its own."""
    settings = settings_of(request)
    session = sessions.open_session(
        store_of(request), caller.user, settings.resolved_secret(), hours=settings.session_hours
    )
    response = JSONResponse(_auth_object("Session renewed successfully!", caller.user))
    set_session(request, response, session)
    return response


@router.post("/logout", summary="Log off (JESS Users API)")
def logout(request: Request, caller: Caller) -> Response:
    """Void the session token(s) the request carries, and clear the cookie."""
    secret = settings_of(request).resolved_secret()
    for token in session_tokens(request):
        sessions.logout(store_of(request), token, secret)
    body = {
        "ok": True,
        "status": "Logged out successfully!",
        "jwt": "Session token cleared",
        "user": None,
        "role": None,
        "email": None,
    }
    response = JSONResponse(body)
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


def _auth_object(status: str, user: User) -> dict[str, Any]:
    return {
        "ok": True,
        "status": status,
        "jwt": "Session token in cookie",
        "user": user.username,
        "role": user.role.value,
        "email": user.email,
    }
