"""JESS's job routes under ``/jess_web/api``: info, session, account, usage, the job list,
status, cancel and rerun. Uploads are in ``submit``, result files in ``files``.

``GET /jobs`` (and ``POST /jobs``) take the filter as a JSON body, ``{"since": "2020-12-01",
"till": "2020-12-20", "status": "FINISHED,QUEUED"}``: inclusive dates of submission and one
status or a comma list, in any dialect's spelling. The list is the caller's own jobs, oldest
first, all of them (JESS did not page it): it streams from a keyset walk of the history, so
a long list costs the server one page of memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from jobline.api.auth import store_of
from jobline.api.jess.render import account_object, job_record, status_object, usage_object
from jobline.api.jess.wire import Caller, JessRoute, envelope
from jobline.core import jobs, reports, usage
from jobline.core.auth import authenticate_password
from jobline.domain.history import HistoryQuery, parse_history
from jobline.domain.records import Job, Principal
from jobline.errors import Conflict, InvalidQuery, InvalidRequest, JobNotFound, NotAuthenticated
from jobline.store import Store

router = APIRouter(route_class=JessRoute, tags=["JESS dialect"])

INFO = {
    "Title": "JESS Web API",
    "Description": "jobline's rendition of the JESS online simulation service API: "
    "EnergyPlus jobs, run by jobline.",
    "Major": 1,
    "Minor": 0,
    "Revision": 0,
    "Release": "jobline",
    "Update": 1,
    "Notice": "Served by jobline.",
}
FILTER_FIELDS = {"since": "start", "till": "end", "status": "status"}
"""Each field of the job list's filter and the history parameter it stands for."""


class JessCredentials(BaseModel):
    jessUser: str
    jessPwd: str


class Command(BaseModel):
    model_config = ConfigDict(extra="allow")
    cmd: str


@router.get("/info", summary="Version (JESS)")
def info() -> dict[str, Any]:
    return INFO


@router.get("/session", summary="Check the JESS session (JESS)")
def check_session(caller: Caller) -> dict[str, Any]:
    return envelope("JESS session key is valid.")


@router.post("/session", summary="Link the JESS account (JESS)")
async def link_session(request: Request, caller: Caller) -> dict[str, Any]:
    """JESS kept a second account per web login; here they are one, so the credentials must
    be the logged-in user's own (email or username, and password)."""
    try:
        body = JessCredentials.model_validate_json(await request.body())
    except ValidationError as exc:
        raise InvalidRequest(
            'the body must be JSON {"jessUser": ..., "jessPwd": ...}', param="body"
        ) from exc
    user = caller.user
    name = body.jessUser.strip().lower()
    if name not in (user.email.lower(), user.username.lower()):
        raise _no_match()
    try:
        await run_in_threadpool(authenticate_password, store_of(request), user.email, body.jessPwd)
    except NotAuthenticated:
        raise _no_match() from None
    return envelope("New JESS session key is assigned.")


def _no_match() -> InvalidRequest:
    return InvalidRequest(
        "The supplied user and passwd pair does not match any record on JESS: give the "
        "email (or username) and password of the logged-in user",
        param="jessUser",
    )


@router.get("/account", summary="Account (JESS)")
def account(request: Request, caller: Caller) -> dict[str, Any]:
    used = usage.usage(store_of(request), caller)
    data = account_object(caller.user, used)
    return envelope(f"{caller.user.username} account available", data)


@router.get("/usage", summary="Usage (JESS)")
def usage_report(request: Request, caller: Caller) -> dict[str, Any]:
    used = usage.usage(store_of(request), caller)
    return envelope(
        f"{caller.user.username} usage report available", [usage_object(caller.user, used)]
    )


@router.get("/jobs", summary="Job list (JESS; the filter in a JSON body)")
async def job_list(request: Request, caller: Caller) -> Response:
    """Every job of the caller that the filter in the JSON body matches, oldest first."""
    query = jess_query(await request.body(), caller)
    store = store_of(request)
    # The first page is read before the answer starts, so a failure is still an error answer.
    walk = reports.export(store, caller, query)
    first = await run_in_threadpool(next, walk, None)
    status = f"{caller.user.username} jobs available"
    return StreamingResponse(
        _listed(status, first, walk, caller.user.account_id), media_type="application/json"
    )


router.add_api_route(
    "/jobs",
    job_list,
    methods=["POST"],
    summary="Job list (JESS; the same as GET)",
    operation_id="jess_job_list_post",
)


def jess_query(raw: bytes, caller: Principal) -> HistoryQuery:
    """The history query of a JESS filter body: the caller's own jobs, oldest first."""
    filters = _filter_body(raw)
    params: dict[str, list[str]] = {
        "user_id": [caller.user.identifier],
        "sort": ["submittedAt"],  # served by the (user, submission time) index
        "direction": ["ASC"],
        "time_field": ["submitted"],
    }
    for name, value in filters.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidQuery(
                f"filter field {name!r} must be a string, got {json.dumps(value)}", param=name
            )
        params[FILTER_FIELDS[name]] = [value]
    try:
        return parse_history(params)
    except InvalidQuery as exc:
        raise _renamed(exc) from exc


def _filter_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    accepted = (
        'a JSON object such as {"since": "2020-12-01", "till": "2020-12-20", "status": "FINISHED"}'
    )
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidQuery(
            f"the filter (the request body) is not JSON ({exc}); send {accepted}", param="body"
        ) from exc
    if not isinstance(body, dict):
        raise InvalidQuery(f"the filter (the request body) must be {accepted}", param="body")
    unknown = sorted(set(body) - set(FILTER_FIELDS))
    if unknown:
        raise InvalidQuery(
            f"unknown filter field(s) {', '.join(map(repr, unknown))}; accepted: "
            f"{', '.join(FILTER_FIELDS)}",
            param=unknown[0],
            accepted=list(FILTER_FIELDS),
        )
    return body


def _renamed(error: InvalidQuery) -> InvalidQuery:
    """The same error, naming the filter field as JESS spells it."""
    native = str(error.details.get("param"))
    jess = next((name for name, param in FILTER_FIELDS.items() if param == native), native)
    message = error.message.replace(f"Invalid {native} ", f"Invalid {jess} ", 1)
    return InvalidQuery(message, **{**error.details, "param": jess})


def _listed(
    status: str, first: Job | None, rest: Iterator[Job], account_id: int
) -> Iterator[bytes]:
    head = json.dumps(envelope(status, []))
    yield head[: head.rindex("[") + 1].encode()
    if first is not None:
        yield json.dumps(job_record(first, account_id)).encode()
        for job in rest:
            yield b"," + json.dumps(job_record(job, account_id)).encode()
    yield b"]}"


@router.get("/job/status/{ref}", summary="Job status (JESS)")
def job_status(request: Request, ref: str, caller: Caller) -> dict[str, Any]:
    job = job_of(store_of(request), caller, ref)
    return envelope(f"{job.id} status available", status_object(job))


@router.post("/job/{ref}", summary="Cancel a job (JESS)")
async def job_command(request: Request, ref: str, caller: Caller) -> dict[str, Any]:
    """``{"cmd": "Cancel"}``: queued cases end at once, running ones are stopped."""
    command(await request.body(), accepted=("Cancel",))
    store = store_of(request)
    job = await run_in_threadpool(job_of, store, caller, ref)
    if job.status.terminal:
        raise Conflict(
            f"Job {job.id} is not found or not cancellable: it has ended ({job.status.value})",
            param="job",
        )
    canceled = await run_in_threadpool(jobs.cancel, store, caller, job.id)
    return envelope(
        f"Cancel flag has been set for {job.id}", status_object(canceled, cancel_flag=True)
    )


def command(raw: bytes, accepted: tuple[str, ...]) -> Command:
    """The ``{"cmd": ...}`` body of a job command; InvalidRequest unless cmd is accepted."""
    try:
        command = Command.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidRequest(
            f'the body must be JSON {{"cmd": ...}} with cmd one of: {", ".join(accepted)}',
            param="cmd",
        ) from exc
    if command.cmd not in accepted:
        raise InvalidRequest(
            f"unknown cmd {command.cmd!r}; accepted: {', '.join(accepted)}",
            param="cmd",
            accepted=list(accepted),
        )
    return command


def job_of(store: Store, caller: Principal, ref: str) -> Job:
    """A job the caller may see, by its serial (JESS's job id)."""
    user = caller.user.email
    if not ref.isascii() or not ref.isdigit():
        raise JobNotFound(
            f"Job {ref} is not accessible to user {user}: job ids are numbers", param="job"
        )
    try:
        return jobs.get(store, caller, int(ref))
    except JobNotFound:
        raise JobNotFound(f"Job {ref} is not accessible to user {user}", param="job") from None
