"""The job page: status, counters, times, sizes, the timeline and every input with its outputs.

While the job is pending, the live part of the page asks for itself again every two seconds
(htmx short polling; with JavaScript off, the page refreshes itself). Cancel and rerun are
plain forms.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jobline.core import jobs, rerun
from jobline.dashboard.web import (
    DashboardRoute,
    Seen,
    page,
    posted_form,
    redirect,
    settings_of,
    store_of,
)
from jobline.domain.records import Job

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

MAX_INPUTS_SHOWN = 200  # the rest are in the results API and the export
POLL_SECONDS = 2


def _details(request: Request, seen: Seen, ref: str) -> dict[str, Any]:
    store = store_of(request)
    job, items = jobs.results(store, seen.principal, ref)
    return {
        "job": job,
        "inputs": items[:MAX_INPUTS_SHOWN],
        "inputs_hidden": max(0, len(items) - MAX_INPUTS_SHOWN),
        "events": jobs.events(store, seen.principal, job.id),
        "poll_seconds": POLL_SECONDS,
        "bar": counter_bar(job),
    }


def counter_bar(job: Job) -> list[tuple[str, str, int, float]]:
    """The segments of a job's counters bar: (label, tone, count, percent of the total)."""
    counters = job.counters
    total = counters.total or 1
    segments = (
        ("succeeded", "good", counters.succeeded),
        ("failed", "bad", counters.failed),
        ("timed out", "warn", counters.timed_out),
        ("canceled", "muted", counters.canceled),
        ("running", "busy", counters.running),
        ("queued", "wait", counters.queued),
    )
    return [(label, tone, n, 100.0 * n / total) for label, tone, n in segments]


@router.get("/jobs/{ref}")
def job_page(request: Request, seen: Seen, ref: str) -> Response:
    """One job by serial or UUID; 404 for a job you may not see, as for one that does not exist."""
    return page(request, "job.html", _details(request, seen, ref))


@router.get("/jobs/{ref}/live")
def job_live(request: Request, seen: Seen, ref: str) -> Response:
    """The part of the job page that changes while the job runs."""
    return page(request, "job_live.html", _details(request, seen, ref))


@router.post("/jobs/{ref}/cancel")
async def cancel(request: Request, seen: Seen, ref: str) -> Response:
    await posted_form(request)
    job = await run_in_threadpool(jobs.cancel, store_of(request), seen.principal, ref)
    return redirect(f"/jobs/{job.id}")


@router.post("/jobs/{ref}/rerun")
async def run_again(request: Request, seen: Seen, ref: str) -> Response:
    await posted_form(request)
    limit = settings_of(request).max_inputs_per_job
    again = partial(rerun.rerun, max_inputs=limit)
    job = await run_in_threadpool(again, store_of(request), seen.principal, ref)
    return redirect(f"/jobs/{job.id}")
