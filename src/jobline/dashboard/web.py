"""What every dashboard page shares: templates, the logged-in viewer, forms and error pages.

Pages are server-rendered Jinja2. The viewer is whoever the ``session_token`` cookie names
(:mod:`jobline.core.sessions`); a page asked for without a valid session redirects to the login
page, and every other jobline error becomes an HTML error page with the dashboard's status.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from jobline import errors
from jobline.core import sessions
from jobline.domain.records import Principal, Role
from jobline.domain.status import JobStatus
from jobline.settings import Settings
from jobline.store import Store

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# The dashboard's own status table (each dialect has one): the page says what went wrong.
STATUS: dict[type[errors.JoblineError], int] = {
    errors.InvalidRequest: 400,
    errors.NotAuthenticated: 401,
    errors.NotAllowed: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.ServiceUnavailable: 503,
}
TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    503: "Unavailable",
}


def status_of(error: errors.JoblineError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


class DashboardRoute(APIRoute):
    """A route whose jobline errors answer as pages: no session → the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except errors.NotAuthenticated as exc:
                if exc.details.get("param") == "form_token":
                    return error_page(request, exc)
                return to_login(request)
            except errors.JoblineError as exc:
                return error_page(request, exc)
            finally:
                await request.close()  # a posted form's spooled files

        return answer


def to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/"  # a form sent without a session cannot be sent again by a redirect
    query = {"next": target} if target != "/" else {}
    if request.cookies.get(sessions.SESSION_COOKIE) is not None:
        query["ended"] = "1"  # a fixed notice: text from a URL is never shown as ours
    url = "/login" + (f"?{urlencode(query)}" if query else "")
    response: Response = RedirectResponse(url, 303)
    if request.headers.get("HX-Request"):
        # A fragment polled by htmx: have the whole page go to the login, not the fragment.
        response = Response(status_code=204, headers={"HX-Redirect": url})
    if request.cookies.get(sessions.SESSION_COOKIE) is not None:
        response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


def error_page(request: Request, error: errors.JoblineError) -> Response:
    status = status_of(error)
    viewer = getattr(request.state, "viewer", None)
    context = {"viewer": viewer, "error": error, "status": status, "title": TITLES.get(status)}
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in person looking at a page, and the token its forms must carry."""

    principal: Principal
    form_token: str

    @property
    def is_admin(self) -> bool:
        return self.principal.role is Role.ADMIN

    @property
    def name(self) -> str:
        user = self.principal.user
        return user.full_name or user.username


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def secret_of(request: Request) -> str:
    return settings_of(request).resolved_secret()


def viewer(request: Request) -> Viewer:
    """The viewer from the session cookie (FastAPI dependency); NotAuthenticated without one."""
    token = request.cookies.get(sessions.SESSION_COOKIE)
    secret = secret_of(request)
    principal = sessions.authenticate_session(store_of(request), token, secret)
    assert token is not None  # authenticate_session refuses a missing token
    found = Viewer(principal, sessions.form_token(token, secret))
    request.state.viewer = found
    return found


Seen = Annotated[Viewer, Depends(viewer)]


async def posted_form(request: Request) -> FormData:
    """A posted form, after checking that it carries the form token of the session in the
    request's cookie (routes get the viewer first, so that session is a valid one)."""
    form = await request.form()
    sent = form.get("form_token")
    token = request.cookies.get(sessions.SESSION_COOKIE) or ""
    sessions.check_form_token(token, secret_of(request), sent if isinstance(sent, str) else None)
    return form


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def page(
    request: Request, name: str, context: Mapping[str, Any], status_code: int = 200
) -> Response:
    """Render a page template with the viewer in its context."""
    full = {"viewer": getattr(request.state, "viewer", None), **context}
    return templates.TemplateResponse(request, name, full, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# Template helpers: how times, durations, sizes and statuses are shown.


def show_time(moment: datetime | None, zone: tzinfo = UTC) -> str:
    if moment is None:
        return "—"
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def show_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def show_bytes(size: int | None) -> str:
    if size is None:
        return "—"
    amount = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} GB"


def status_tone(status: str) -> str:
    """The CSS tone of a job or input status badge."""
    return _TONES.get(status, "neutral")


_TONES = {
    JobStatus.COMPLETED.value: "good",
    "SUCCEEDED": "good",
    JobStatus.ERROR.value: "bad",
    "FAILED": "bad",
    JobStatus.REJECTED.value: "bad",
    JobStatus.TIMEDOUT.value: "warn",
    JobStatus.CANCELED.value: "muted",
    JobStatus.IN_PROGRESS.value: "busy",
    "RUNNING": "busy",
    JobStatus.SUBMITTED.value: "wait",
    "QUEUED": "wait",
    JobStatus.OPEN.value: "wait",
}


def path_part(text: str) -> str:
    """``text`` quoted as one segment of a URL path (a ``/`` in it included)."""
    return quote(text, safe="")


templates.env.filters.update(
    when=show_time, seconds=show_seconds, size=show_bytes, tone=status_tone, part=path_part
)
