"""Admin pages: users and their access keys, models and versions, workers.

Every page asks ``core.admin`` (or the model catalog), which checks that the viewer is an admin;
anyone else gets the 403 page. A new access key's secret is shown once, on the page that
answers the form that made it, and never again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jobline.core import admin, auth, jobs
from jobline.core import workers as workers_core
from jobline.dashboard.web import (
    DashboardRoute,
    Seen,
    field,
    page,
    posted_form,
    redirect,
    settings_of,
    status_of,
    store_of,
)
from jobline.domain.records import KeyKind, Role, UserStatus
from jobline.errors import InvalidRequest, JoblineError

router = APIRouter(prefix="/admin", route_class=DashboardRoute, include_in_schema=False)


@router.get("")
def admin_home(seen: Seen) -> Response:
    return redirect("/admin/users")


def _users_page(
    request: Request,
    seen: Seen,
    *,
    created: tuple[str, auth.NewKey] | None = None,
    error: JoblineError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    context: dict[str, Any] = {
        "users": admin.users(store_of(request), seen.principal),
        "roles": [role.value for role in Role],
        "created": created,
        "error": error,
        "error_param": error.details.get("param", "") if error else "",
        "values": values or {},
    }
    status_code = status_of(error) if error else 200
    return page(request, "admin_users.html", context, status_code=status_code)


@router.get("/users")
def users(request: Request, seen: Seen) -> Response:
    return _users_page(request, seen)


@router.post("/users")
async def add_user(request: Request, seen: Seen) -> Response:
    form = await posted_form(request)
    values = {name: field(form, name) for name in ("email", "role", "account", "first", "last")}
    try:
        role = Role(values["role"] or Role.MEMBER.value)
    except ValueError:
        accepted = ", ".join(r.value for r in Role)
        problem = InvalidRequest(f"role {values['role']!r} is not one of {accepted}", param="role")
        return await run_in_threadpool(partial(_users_page, request, seen, error=problem))
    adding = partial(
        admin.add_user,
        email=values["email"],
        password=str(form.get("password") or ""),
        role=role,
        account=values["account"] or "default",
        first_name=values["first"],
        last_name=values["last"],
    )
    try:
        user, new = await run_in_threadpool(adding, store_of(request), seen.principal)
    except JoblineError as exc:
        failed = partial(_users_page, request, seen, error=exc, values=values)
        return await run_in_threadpool(failed)
    return await run_in_threadpool(partial(_users_page, request, seen, created=(user.email, new)))


@router.post("/users/{identifier}/status")
async def set_status(request: Request, seen: Seen, identifier: str) -> Response:
    form = await posted_form(request)
    status = UserStatus.DISABLED if field(form, "status") == "DISABLED" else UserStatus.ACTIVE
    await run_in_threadpool(admin.set_status, store_of(request), seen.principal, identifier, status)
    return redirect("/admin/users")


@router.post("/users/{identifier}/keys")
async def create_key(request: Request, seen: Seen, identifier: str) -> Response:
    form = await posted_form(request)
    kind = KeyKind.WORKER if field(form, "kind") == KeyKind.WORKER.value else KeyKind.USER
    making = partial(admin.create_key, kind=kind, description=field(form, "description"))
    user, new = await run_in_threadpool(making, store_of(request), seen.principal, identifier)
    return await run_in_threadpool(partial(_users_page, request, seen, created=(user.email, new)))


@router.post("/keys/{prefix}/revoke")
async def revoke_key(request: Request, seen: Seen, prefix: str) -> Response:
    await posted_form(request)
    await run_in_threadpool(admin.revoke_key, store_of(request), seen.principal, prefix)
    return redirect("/admin/users")


@router.get("/models")
def models(request: Request, seen: Seen) -> Response:
    auth.require_admin(seen.principal)
    return page(request, "admin_models.html", {"models": jobs.list_models(store_of(request))})


@router.get("/workers")
def workers(request: Request, seen: Seen) -> Response:
    """Every registered worker (embedded and remote) with its heartbeat, and this server's
    embedded worker setting."""
    listed = workers_core.listing(store_of(request), seen.principal)
    return page(
        request,
        "admin_workers.html",
        {
            "slots": settings_of(request).worker_slots,
            "workers": listed,
            "now": datetime.now(UTC),
        },
    )
