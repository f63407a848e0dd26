"""Modzy's ``GET /api/jobs/history``: its parameter names in, a bare array of Job objects out.

Parameters are renamed to the native ones and parsed by ``domain.history.parse_history``, so
filters, times, statuses, sorts and pages follow the same rules as everywhere. What is Modzy's
own lives here: both spellings of ``per-page``/``perPage`` and ``sort-by``/``sortBy``;
``endDate`` only together with ``startDate``; 10 jobs per page; the oldest created first; and
the window bounds the creation time, as Modzy's documentation says. Pages count from 1, and
page 0 is the first page too. The seed's sort spellings ``submitedAt`` and ``fail`` work, and
``submittedJobs`` sorts by submission time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from jobline.api.auth import store_of
from jobline.api.modzy.render import job_object
from jobline.api.modzy.wire import Caller, ModzyRoute
from jobline.core import jobs, owners
from jobline.domain.history import HistoryQuery, parse_history
from jobline.domain.ordering import invalid_query
from jobline.errors import InvalidQuery, InvalidRequest

router = APIRouter(route_class=ModzyRoute, tags=["Modzy dialect"])

NATIVE_NAMES: dict[str, str] = {
    "user": "user",
    "accessKey": "access_key",
    "startDate": "start",
    "endDate": "end",
    "model": "model",
    "status": "status",
    "jobIdentifiers": "job_id",
    "page": "page",
    "per-page": "per_page",
    "perPage": "per_page",
    "direction": "direction",
    "sort-by": "sort",
    "sortBy": "sort",
}
"""Each Modzy history parameter and the native parameter it stands for."""

DEFAULT_PER_PAGE = "10"
DEFAULT_SORT = "createdAt"
DEFAULT_DIRECTION = "ASC"
TIME_FIELD = "created"


@router.get("/jobs/history", summary="Job history (Modzy)")
def history(request: Request, caller: Caller) -> list[dict[str, Any]]:
    """One page of the jobs the caller may see, as a bare array of Job objects."""
    store = store_of(request)
    page = jobs.history(store, caller, modzy_query(request.query_params.multi_items()))
    found = owners.owners(store, page.jobs)
    # History rows carry no inputs (DESIGN §3), so jobInputs stays empty here.
    return [job_object(job, found.get(job.user_identifier)) for job in page.jobs]


def modzy_query(items: list[tuple[str, str]]) -> HistoryQuery:
    """The HistoryQuery of Modzy history parameters; errors name the Modzy parameter."""
    params: dict[str, list[str]] = {}
    sent: dict[str, str] = {}  # native name -> the Modzy name the caller used
    for name, value in items:
        native = NATIVE_NAMES.get(name)
        if native is None:
            accepted = ", ".join(NATIVE_NAMES)
            raise InvalidRequest(
                f"unknown parameter {name!r}; accepted: {accepted}",
                param=name,
                accepted=list(NATIVE_NAMES),
            )
        params.setdefault(native, []).append(value)
        sent[native] = name
    if _given(params, "end") and not _given(params, "start"):
        raise invalid_query(
            "endDate", params["end"][0], "given without startDate", "startDate with endDate"
        )
    for native, default in (("per_page", DEFAULT_PER_PAGE), ("sort", DEFAULT_SORT)):
        if not _given(params, native):
            params[native] = [default]
    signed = any(value.strip().startswith(("+", "-")) for value in params["sort"])
    if not signed and not _given(params, "direction"):
        params["direction"] = [DEFAULT_DIRECTION]
    params["time_field"] = [TIME_FIELD]
    try:
        return parse_history(params)
    except InvalidQuery as exc:
        raise _renamed(exc, sent) from exc


def _given(params: dict[str, list[str]], name: str) -> bool:
    return any(value.strip() for value in params.get(name, ()))


def _renamed(error: InvalidQuery, sent: dict[str, str]) -> InvalidQuery:
    """The same error, naming the parameter as the caller spelled it."""
    native = error.details.get("param")
    modzy = sent.get(str(native))
    if modzy is None or modzy == native:
        return error
    message = error.message.replace(f"Invalid {native} ", f"Invalid {modzy} ", 1)
    return InvalidQuery(message, **{**error.details, "param": modzy})
