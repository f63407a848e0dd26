"""The usage page: charts over the history's filters, from ``core.reports.stats``.

Jobs per day by status, CPU time by model and by user, and queue and elapsed time (p50, p95)
per day. Each chart has its table beside it, which is also what is shown with JavaScript off.
Without a time window the page shows the last 30 days, and says so in the filter form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from jobline.core import reports
from jobline.dashboard.history import Links, filter_context, query_params
from jobline.dashboard.web import DashboardRoute, Seen, page, redirect, store_of
from jobline.domain.history import ORDER_PARAMS, PAGE_PARAMS
from jobline.domain.records import Principal
from jobline.domain.stats import GroupBy, Stats, parse_stats
from jobline.errors import InvalidRequest
from jobline.store import Store

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

DEFAULT_DAYS = 30
TOP_GROUPS = 15  # models and users shown in the CPU tables, most CPU first


@router.get("/usage")
def usage(request: Request, seen: Seen) -> Response:
    """Charts of the jobs you may see that match the history's filters."""
    params, blank = query_params(request)
    params = {n: v for n, v in params.items() if n not in ORDER_PARAMS + PAGE_PARAMS}
    links = Links("/usage", params)
    if blank:
        return redirect(links.to())
    defaulted = "start" not in params and "end" not in params
    if defaulted:
        start = datetime.now(UTC).date() - timedelta(days=DEFAULT_DAYS - 1)
        params = {**params, "start": [start.isoformat()]}
    context: dict[str, Any] = {
        "links": Links("/usage", params),
        "defaulted": defaulted,
        "default_days": DEFAULT_DAYS,
        "history_link": links.to("/jobs"),
        **filter_context(store_of(request), Links("/usage", params), UTC),
    }
    try:
        context.update(_figures(store_of(request), seen.principal, params))
    except InvalidRequest as exc:
        context["error"] = exc
        return page(request, "usage.html", context, status_code=400)
    return page(request, "usage.html", context)


def _stats(store: Store, principal: Principal, params: dict[str, list[str]], *by: str) -> Stats:
    return reports.stats(store, principal, parse_stats({**params, "group_by": list(by)}))


def _figures(store: Store, principal: Principal, params: dict[str, list[str]]) -> dict[str, Any]:
    by_status = _stats(store, principal, params, GroupBy.day, GroupBy.status)
    by_day = _stats(store, principal, params, GroupBy.day)
    by_model = _stats(store, principal, params, GroupBy.model)
    by_user = _stats(store, principal, params, GroupBy.user)
    days = [group.key[0] or "" for group in by_day.groups]
    statuses = sorted({str(group.key[1]) for group in by_status.groups})
    counts = {(g.key[0], g.key[1]): g.jobs for g in by_status.groups}
    per_status = {s: [counts.get((day, s), 0) for day in days] for s in statuses}
    times = {
        "queue p50": [g.queue_seconds_p50 for g in by_day.groups],
        "queue p95": [g.queue_seconds_p95 for g in by_day.groups],
        "elapsed p50": [g.elapsed_seconds_p50 for g in by_day.groups],
        "elapsed p95": [g.elapsed_seconds_p95 for g in by_day.groups],
    }
    epoch = [datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() for day in days]
    return {
        "echo": by_day.echo,
        "days": days,
        "per_status": per_status,
        "times": times,
        "totals": {
            "jobs": sum(g.jobs for g in by_day.groups),
            "inputs": sum(g.inputs for g in by_day.groups),
            "cpu": sum(g.cpu_seconds for g in by_day.groups),
        },
        "cpu_by_model": _top(by_model),
        "cpu_by_user": _top(by_user),
        "charts": {
            "jobs": {"x": epoch, "series": per_status, "unit": "jobs"},
            "times": {"x": epoch, "series": times, "unit": "seconds"},
        },
    }


def _top(stats: Stats) -> list[tuple[str, int, float, float]]:
    """(name, jobs, CPU seconds, percent of the largest) for the groups using most CPU."""
    ranked = sorted(stats.groups, key=lambda g: g.cpu_seconds, reverse=True)[:TOP_GROUPS]
    most = max((g.cpu_seconds for g in ranked), default=0.0) or 1.0
    return [
        (str(g.key[0] or "—"), g.jobs, g.cpu_seconds, 100.0 * g.cpu_seconds / most) for g in ranked
    ]
