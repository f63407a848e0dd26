"""Logging in and out: email and password in, the ``session_token`` cookie out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from jobline.core import sessions
from jobline.dashboard.web import (
    DashboardRoute,
    field,
    page,
    redirect,
    secret_of,
    settings_of,
    store_of,
)
from jobline.errors import NotAuthenticated

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (never ``//host`` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/jobs"
    return target


_NOTICES = {
    "ended": "Your session has ended (it expired, or the account changed). Log in again.",
    "out": "You have logged out.",
    "": "",
}


@router.get("/login")
def login_form(request: Request) -> Response:
    params = request.query_params
    context = {
        "next": safe_next(params.get("next")),
        "email": "",
        "notice": _NOTICES["ended" if "ended" in params else "out" if "out" in params else ""],
    }
    return page(request, "login.html", context)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    email, password = field(form, "email"), str(form.get("password") or "")
    target = safe_next(field(form, "next"))
    settings = settings_of(request)
    problem = ""
    if not email or not password:
        problem = "Enter your email and your password."
    else:
        try:
            session = sessions.login(
                store_of(request), email, password, secret_of(request), hours=settings.session_hours
            )
        except NotAuthenticated as exc:
            problem = exc.message[:1].upper() + exc.message[1:] + "."
    if problem:
        context = {"next": target, "email": email, "error": problem}
        return page(request, "login.html", context, status_code=401 if email else 400)
    response = redirect(target)
    https = request.url.scheme == "https"
    options = sessions.cookie_options(settings.session_hours, https=https)
    response.set_cookie(sessions.SESSION_COOKIE, session.token, **options)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    # No form token needed: logging someone out is harmless, and must work with a stale page.
    token = request.cookies.get(sessions.SESSION_COOKIE)
    sessions.logout(store_of(request), token, secret_of(request))
    response = redirect("/login?out")
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response
