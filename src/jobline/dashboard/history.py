"""The history page: the seed's call as a page, its URL holding the whole query.

The page takes exactly the native history parameters (``GET /v1/jobs``), so a page's URL can be
bookmarked, shared, or turned into an API call or an export by changing its path. The filters
are a plain GET form and the sort, paging and quick ranges are plain links: it all works with
JavaScript off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from jobline.core import jobs, paging
from jobline.dashboard.web import DashboardRoute, Seen, page, redirect, store_of
from jobline.domain.history import PAGE_PARAMS, HistoryQuery, SortField, parse_history
from jobline.domain.ordering import NUMBER_SORTS, TIME_SORTS, direction_name
from jobline.domain.records import Page, Principal, Role
from jobline.domain.status import CATEGORIES, JobStatus
from jobline.domain.times import TimeField
from jobline.errors import InvalidRequest
from jobline.store import Store

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZES = (10, 25, 50, 100, 200)
QUICK_RANGES = (("Today", 0), ("7 days", 6), ("30 days", 29))  # label, days before today
# Filters kept under "More filters", opened when one of them is in use.
MORE_FILTERS = ("user_id", "account", "model_version", "name", "label", "count", "tz")
STATUS_CHOICES = (*(c for c in CATEGORIES if c != "ALL"), *(s.value for s in JobStatus))

Params = dict[str, list[str]]


@dataclass(frozen=True)
class Column:
    label: str
    sort: SortField
    numeric: bool = False


COLUMNS = (
    Column("#", SortField.serial, numeric=True),
    Column("Name", SortField.name),
    Column("Model", SortField.model),
    Column("User", SortField.user),
    Column("Access key", SortField.submittedBy),
    Column("Status", SortField.status),
    Column("Inputs", SortField.total, numeric=True),
    Column("Failed", SortField.failed, numeric=True),
    Column("Submitted", SortField.submittedAt),
    Column("Finished", SortField.finishedAt),
    Column("Queue", SortField.queueTime, numeric=True),
    Column("Elapsed", SortField.elapsedTime, numeric=True),
    Column("CPU", SortField.cpuTime, numeric=True),
)


class Links:
    """URLs of this page (or another path) with some parameters changed, the rest kept."""

    def __init__(self, path: str, params: Mapping[str, list[str]]) -> None:
        self.path = path
        self.params = {name: list(values) for name, values in params.items()}

    def to(self, path: str | None = None, **changes: str | None) -> str:
        """The URL with each changed parameter set to one value, or removed when ``None``."""
        params = dict(self.params)
        for name, value in changes.items():
            params.pop(name, None)
            if value is not None:
                params[name] = [value]
        query = urlencode([(n, v) for n, values in params.items() for v in values])
        return (path or self.path) + (f"?{query}" if query else "")

    def without_paging(self) -> Links:
        return Links(self.path, {n: v for n, v in self.params.items() if n not in PAGE_PARAMS})

    def value(self, name: str) -> str:
        return ", ".join(self.params.get(name, []))


def query_params(request: Request) -> tuple[Params, bool]:
    """The query string as lists of non-blank values, and whether blank ones were dropped."""
    params: Params = {}
    blank = False
    for name, value in request.query_params.multi_items():
        if value.strip():
            params.setdefault(name, []).append(value.strip())
        else:
            blank = True
    return params, blank


@router.get("/")
def home(request: Request) -> Response:
    return redirect("/jobs" + (f"?{request.url.query}" if request.url.query else ""))


@router.get("/jobs")
def history(request: Request, seen: Seen) -> Response:
    """Jobs you may see, with every history filter, sort and page of ``GET /v1/jobs``."""
    params, blank = query_params(request)
    links = Links("/jobs", params)
    if blank:  # an empty form field is no filter: show the clean, shareable URL instead
        return redirect(links.to())
    store = store_of(request)
    error: InvalidRequest | None = None
    found: Page | None = None
    query: HistoryQuery | None = None
    previous: str | None = None
    try:
        query = parse_history(params)
        found = jobs.history(store, seen.principal, query)
        previous = paging.previous_cursor(store, seen.principal, query)
    except InvalidRequest as exc:
        error = exc
    context = {
        "links": links,
        "query": query,
        "found": found,
        "error": error,
        "columns": COLUMNS,
        "sorted_by": _sort_links(links, query),
        "paging": _paging(links, query, found, previous),
        **filter_context(store, links, _zone(query)),
        "zone": _zone(query),
        "sees": _sees(seen.principal),
        "exports": _exports(links),
    }
    return page(request, "history.html", context, status_code=400 if error else 200)


def filter_context(store: Store, links: Links, zone: tzinfo) -> dict[str, Any]:
    """What the filter form (``_filters.html``) needs besides the page's parameters."""
    return {
        "quick": _quick_ranges(links, zone),
        "statuses": _checked_statuses(links.params),
        "status_choices": STATUS_CHOICES,
        "time_fields": [f.value for f in TimeField],
        "models": [m.identifier for m in jobs.list_models(store)],
        "more_open": any(name in links.params for name in MORE_FILTERS),
    }


def _sees(principal: Principal) -> str:
    if principal.role is Role.ADMIN:
        return "every job (you are an admin)"
    if principal.role is Role.MANAGER:
        return f"every job of account {principal.user.account_identifier} (you are its manager)"
    return "your own jobs"


def _zone(query: HistoryQuery | None) -> tzinfo:
    return UTC if query is None else query.zone


def _sort_links(links: Links, query: HistoryQuery | None) -> dict[SortField, tuple[str, str]]:
    """For each sortable column: the link that sorts by it, and its state (asc/desc/none)."""
    current = (query.sort, query.descending) if query else (SortField.submittedAt, True)
    found: dict[SortField, tuple[str, str]] = {}
    for column in COLUMNS:
        if column.sort is current[0]:
            descending, state = not current[1], "desc" if current[1] else "asc"
        else:
            descending, state = column.sort in TIME_SORTS | NUMBER_SORTS, "none"
        url = links.to(
            sort=column.sort.value, direction=direction_name(descending), cursor=None, page=None
        )
        found[column.sort] = (url, state)
    return found


@dataclass(frozen=True)
class Paging:
    first: str | None
    previous: str | None
    next: str | None
    sizes: dict[int, str]


def _paging(
    links: Links, query: HistoryQuery | None, found: Page | None, previous: str | None
) -> Paging:
    sizes = {size: links.to(per_page=str(size), page=None) for size in PAGE_SIZES}
    if query is None or found is None:
        return Paging(None, None, None, sizes)
    first = links.to(cursor=None, page=None)
    if query.page:  # offset paging, as the URL asked
        back = str(query.page - 1) if query.page > 2 else None
        ahead = str(query.page + 1) if found.has_more else None
        return Paging(
            first,
            links.to(page=back),
            links.to(page=ahead) if ahead else None,
            sizes,
        )
    if query.cursor is None:
        ahead_url = links.to(cursor=found.next_cursor) if found.next_cursor else None
        return Paging(None, None, ahead_url, sizes)
    return Paging(
        first,
        links.to(cursor=previous),
        links.to(cursor=found.next_cursor) if found.next_cursor else None,
        sizes,
    )


def _quick_ranges(links: Links, zone: tzinfo) -> list[tuple[str, str, bool]]:
    """Today, 7 days, 30 days and any time: (label, link, whether it is the current window)."""
    today = datetime.now(zone).date()
    current_start = links.params.get("start", [None])[0]
    has_end = "end" in links.params
    ranges = []
    for label, days in QUICK_RANGES:
        start = (today - timedelta(days=days)).isoformat()
        url = links.to(start=start, end=None, cursor=None, page=None)
        ranges.append((label, url, current_start == start and not has_end))
    anytime = links.to(start=None, end=None, cursor=None, page=None)
    ranges.append(("Any time", anytime, current_start is None and not has_end))
    return ranges


def _checked_statuses(params: Mapping[str, list[str]]) -> set[str]:
    return {word.strip().upper() for value in params.get("status", []) for word in value.split(",")}


def _exports(links: Links) -> dict[str, str]:
    plain = links.without_paging()
    return {fmt: plain.to("/v1/jobs/export", format=fmt) for fmt in ("csv", "ndjson")}
