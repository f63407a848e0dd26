"""Dashboard speed at scale: how long the history page takes to render over a seeded history.

The real app runs in uvicorn (as in ``bench.history``); each page is asked for over HTTP with
a session cookie, as a browser would, and timed from request to the last byte of HTML, so the
numbers include the history query, the previous-page cursor, the model list for the filter
form, the template and the HTTP round trip: an upper bound of the server-side render time.

Target (issue 7): the history page renders in <= 50 ms p95 with 1 M jobs in the store.

    python -m bench.dashboard [--jobs 1000000] [--database sqlite|postgres|both] [--runs 50]
    python -m bench.dashboard --url sqlite:////tmp/jobline_history.db   # a kept seeded store
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from bench.common import each_database
from bench.history import Callers, callers, measure, prepared, serving
from jobline.core import jobs, sessions
from jobline.domain.history import parse_history
from jobline.store import Store
from jobline.store.tables import jobs as jobs_table

TARGET_MS = 50.0


def pages(store: Store, who: Callers) -> list[tuple[str, str, str]]:
    """(name, who, URL) of the measured pages: each role's default page, filters, sorts,
    and a cursor page with its Previous link."""
    month_ago = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    cursor = jobs.history(store, who.principals["admin"], parse_history({})).next_cursor
    return [
        ("member: newest first", "member", "/jobs"),
        ("member: last 30 days, ERROR", "member", f"/jobs?start={month_ago}&status=ERROR"),
        ("member: by cpuTime", "member", "/jobs?sort=cpuTime&direction=DESC"),
        ("manager: account, newest first", "manager", "/jobs"),
        ("manager: account, status PENDING", "manager", "/jobs?status=PENDING"),
        ("manager: account, by name, 100/page", "manager", "/jobs?sort=name&per_page=100"),
        ("admin: everything, newest first", "admin", "/jobs"),
        ("admin: cursor page 2 (with Previous)", "admin", f"/jobs?cursor={cursor}"),
        ("admin: failed>=1, last 30 days", "admin", f"/jobs?count=failed>=1&start={month_ago}"),
    ]


def run(store: Store, runs: int) -> None:
    who = callers(store)
    secret = secrets.token_urlsafe(32)
    os.environ["JOBLINE_SECRET"] = secret  # the served app's Settings read it
    cookies = {
        name: sessions.open_session(store, principal.user, secret, hours=1).token
        for name, principal in who.principals.items()
    }
    measured = pages(store, who)
    print(f"  {'page':42} {'p50':>8} {'p95':>8} {'p99':>8}  rows  target p95 <= {TARGET_MS:g} ms")
    with serving(store) as base:
        for name, role, url in measured:
            client = httpx.Client(base_url=base, cookies={sessions.SESSION_COOKIE: cookies[role]})
            samples: list[float] = []

            def get(c: httpx.Client = client, u: str = url) -> int:
                response = c.get(u)
                assert response.status_code == 200, (u, response.status_code)
                return response.text.count("data-serial=")

            rows = measure(get, samples, runs)
            client.close()
            cuts = statistics.quantiles(samples, n=100, method="inclusive")
            p50, p95, p99 = (cuts[p - 1] * 1000 for p in (50, 95, 99))
            verdict = "met" if p95 <= TARGET_MS else f"MISSED x{p95 / TARGET_MS:.1f}"
            print(f"  {name:42} {p50:8.2f} {p95:8.2f} {p99:8.2f}  {rows:>4}  {verdict}")


def bench(database: str, args: argparse.Namespace) -> None:
    print(f"{database}:")
    with prepared(database, args.jobs, args.keep, args.url) as store:
        with store.read() as conn:
            total = conn.execute(select(func.count()).select_from(jobs_table)).scalar_one()
        print(f"  {total:,} jobs")
        run(store, args.runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs to seed")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--runs", type=int, default=50, help="measured pages per shape")
    parser.add_argument("--keep", action="store_true", help="seed a database that stays")
    parser.add_argument("--url", help="measure this already seeded database; no seeding")
    args = parser.parse_args()
    each_database(bench, args)


if __name__ == "__main__":
    main()
