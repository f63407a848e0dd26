"""History speed at scale: page latency of the common query shapes over a seeded history of
millions of jobs, measured server-side (``core.jobs.history``) and over HTTP (the real app in
uvicorn, called with httpx), as p50 / p95 / p99 over ``--runs`` calls after a warm-up.

Then stats over the member's last year (per status, per month), and an export of that year
(NDJSON, server-side and over HTTP: rows/s, and the export's peak traced memory for its first
10 000 rows and for all of them, which must be flat).

Targets (issue 3, PostgreSQL at 10 M jobs): user-scoped pages p95 <= 10 ms for any sort,
account-wide pages p95 <= 50 ms, cursor page 10 000 within 1.5x of page 1, stats over one
user's year <= 100 ms, export >= 100 000 rows/s with flat memory; SQLite at 1 M jobs:
user-scoped pages p95 <= 20 ms. Compare: Prefect 3 serves a run-history page in ~35 ms with a
million runs, and ~200 ms at offset 50 000.

    python -m bench.history [--jobs 1000000] [--database sqlite|postgres|both] [--runs 50]
    python -m bench.history --database postgres --jobs 10000000 --keep   # seed once, keep it
    python -m bench.history --url postgresql://postgres@127.0.0.1:5432/jobline_history

``--explain`` also prints the plan of every shape that missed its target (PostgreSQL: EXPLAIN
ANALYZE, SQLite: EXPLAIN QUERY PLAN). Results and their analysis: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, event, func, select, text

from bench.common import PG_SERVER, each_database, fresh_store
from jobline.api.app import create_app
from jobline.api.reports import ndjson_export
from jobline.core import auth, jobs, reports
from jobline.domain.history import parse_history
from jobline.domain.records import Principal, Role, User
from jobline.domain.stats import parse_stats
from jobline.errors import AlreadyExists
from jobline.settings import Settings
from jobline.store import Store
from jobline.store import users as user_store
from jobline.store.seed import SeedPlan, seed
from jobline.store.tables import jobs as jobs_table
from jobline.store.tables import users

KEPT_PG = "jobline_history"
KEPT_SQLITE = Path(tempfile.gettempdir()) / "jobline_history.db"
WARMUP_RUNS = 3
MIN_RUNS = 10
HTTP_TIMEOUT_SECONDS = 300.0  # the slowest shapes take seconds at 10 M jobs
SHAPE_BUDGET_SECONDS = 30.0  # per shape and side: a shape 100x over its target stops early
DEEP_PAGE = 10_000
PER_PAGE = 50
CURSOR_PAGE_ONE = "admin: cursor page 1"
STATS_TARGET_MS = 100.0
EXPORT_TARGET_ROWS_PER_SECOND = 100_000
EXPORT_HEAD_ROWS = 10_000  # the export's memory is taken after this many rows, and at its end


@dataclass
class Shape:
    """One history request: who asks, with which parameters, and the p95 it should meet."""

    name: str
    who: str  # member (the busiest), typical (the median member), manager or admin
    params: dict[str, str] = field(default_factory=dict)
    target_ms: float | None = None
    server: list[float] = field(default_factory=list)
    http: list[float] = field(default_factory=list)
    rows: int = 0


@contextmanager
def prepared(database: str, jobs_wanted: int, keep: bool, url: str | None) -> Iterator[Store]:
    """A store holding a seeded history: reused (``url``), kept, or temporary."""
    if url is not None:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(url, Path(tmp) / "blobs")
            yield store
            store.close()
        return
    if not keep:
        with fresh_store(database) as store:
            _seed(store, jobs_wanted)
            yield store
        return
    if database == "postgres":
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {KEPT_PG} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {KEPT_PG}"))
        admin.dispose()
        url = f"{PG_SERVER}/{KEPT_PG}"
    else:
        for path in KEPT_SQLITE.parent.glob(KEPT_SQLITE.name + "*"):
            path.unlink()
        url = f"sqlite:///{KEPT_SQLITE}"
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(url, Path(tmp) / "blobs")
        _seed(store, jobs_wanted)
        print(f"  kept: rerun with --url {url}")
        yield store
        store.close()


def _seed(store: Store, count: int) -> None:
    def progress(done: int, seconds: float) -> None:
        if done % (count // 5 or 1) < 10_000:
            print(f"  seeding {done:>11,} / {count:,}  {done / seconds:>8,.0f} jobs/s", flush=True)

    report = seed(store, SeedPlan(jobs=count), progress)
    print(
        f"  seeded {report.jobs:,} jobs in {report.seconds:.1f} s "
        f"({report.jobs_per_second:,.0f} jobs/s), then ANALYZE in {report.analyze_seconds:.1f} s"
    )


@dataclass(frozen=True)
class Callers:
    """The principals and access-key tokens of the busiest member, its manager, an admin,
    and a typical member (the median by jobs: the stats are also measured for one)."""

    principals: dict[str, Principal]
    tokens: dict[str, str]
    member: User


def callers(store: Store) -> Callers:
    with store.read() as conn:
        by_jobs = (
            conn.execute(
                select(jobs_table.c.user_id)
                .join(users, users.c.id == jobs_table.c.user_id)
                .where(users.c.role == Role.MEMBER.value)
                .group_by(jobs_table.c.user_id)
                .order_by(func.count().desc(), jobs_table.c.user_id)
            )
            .scalars()
            .all()
        )
        member = user_store.get_user(conn, user_id=by_jobs[0])  # the busiest
        typical = user_store.get_user(conn, user_id=by_jobs[len(by_jobs) // 2])  # the median
        manager = next(
            u for u in user_store.list_users(conn, member.account_id) if u.role is Role.MANAGER
        )
    try:
        admin = auth.add_user(store, email="bench-admin@bench.local", role=Role.ADMIN)
    except AlreadyExists:
        with store.read() as conn:
            admin = user_store.get_user(conn, email="bench-admin@bench.local")
    tokens = {
        who: auth.create_key(store, user, description="bench").token
        for who, user in (
            ("member", member),
            ("typical", typical),
            ("manager", manager),
            ("admin", admin),
        )
    }
    principals = {who: auth.authenticate_key(store, token) for who, token in tokens.items()}
    return Callers(principals, tokens, member)


def shapes(store: Store, member: User, sqlite: bool) -> list[Shape]:
    """The measured query shapes, with filter values taken from the member's own history."""
    mine = jobs_table.c.user_id == member.id
    with store.read() as conn:
        prefix = conn.execute(select(jobs_table.c.key_prefix).where(mine).limit(1)).scalar_one()
        model = conn.execute(
            select(jobs_table.c.model_identifier)
            .where(mine)
            .group_by(jobs_table.c.model_identifier)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        picked = conn.execute(
            select(jobs_table.c.id, jobs_table.c.identifier)
            .where(mine)
            .order_by(func.random())
            .limit(20)
        ).all()
    ids = [row.identifier for row in picked[:10]] + [str(row.id) for row in picked[10:]]
    month_ago = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    user_ms, account_ms = (20.0 if sqlite else 10.0), 50.0
    return [
        Shape("member: own, newest first", "member", {}, user_ms),
        Shape("member: last 30 days", "member", {"start": month_ago}, user_ms),
        Shape("member: by cpuTime", "member", {"sort": "-cpuTime"}, user_ms),
        Shape(
            f"member: {model} COMPLETED by elapsedTime",
            "member",
            {"model": model, "status": "COMPLETED", "sort": "-elapsedTime"},
            user_ms,
        ),
        Shape("member: 20 job ids", "member", {"job_id": ",".join(ids)}, user_ms),
        Shape("member: status PENDING", "member", {"status": "PENDING"}, user_ms),
        Shape("member: failed>=1", "member", {"count": "failed>=1"}, user_ms),
        Shape("manager: account, newest first", "manager", {}, account_ms),
        Shape("manager: account, status ERROR", "manager", {"status": "ERROR"}, account_ms),
        Shape("manager: account, by name", "manager", {"sort": "name"}, account_ms),
        Shape("manager: name contains 'backfill'", "manager", {"name": "backfill"}, account_ms),
        Shape("manager: search 'out of memory'", "manager", {"search": "out of memory"}),
        Shape("admin: access key", "admin", {"access_key": prefix}, user_ms),
        Shape("admin: user ~ last name", "admin", {"user": member.last_name.lower()}),
        Shape("admin: offset page 1000", "admin", {"page": "1000"}),
    ]


def cursor_shapes(store: Store, admin: Principal, total: int) -> list[Shape]:
    """Cursor pages 1, 100 and 10 000 of everything (fewer when the history is smaller),
    each measured from the cursor the previous page handed out."""
    deepest = min(DEEP_PAGE, total // PER_PAGE)
    wanted = [page for page in (1, 100, deepest) if page <= deepest]
    found: list[Shape] = [Shape(CURSOR_PAGE_ONE, "admin", {})]
    params: dict[str, str] = {}
    began = time.perf_counter()
    for page in range(1, max(wanted)):
        cursor = jobs.history(store, admin, parse_history(params)).next_cursor
        assert cursor is not None
        params = {"cursor": cursor}
        if page + 1 in wanted[1:]:
            found.append(Shape(f"admin: cursor page {page + 1:,}", "admin", dict(params)))
    print(f"  walked {max(wanted) - 1:,} pages by cursor in {time.perf_counter() - began:.1f} s")
    return found


def measure(call: Callable[[], int], samples: list[float], runs: int) -> int:
    """Call ``call`` (which returns a row count) ``runs`` times after a warm-up, timing each;
    a shape that has used up ``SHAPE_BUDGET_SECONDS`` stops early, after ``MIN_RUNS``."""
    rows, began_all = 0, time.perf_counter()
    for run in range(WARMUP_RUNS + runs):
        began = time.perf_counter()
        rows = call()
        if run >= WARMUP_RUNS:
            samples.append(time.perf_counter() - began)
            spent = time.perf_counter() - began_all
            if len(samples) >= MIN_RUNS and spent > SHAPE_BUDGET_SECONDS:
                break
    return rows


@contextmanager
def serving(store: Store) -> Iterator[str]:
    """The real app in uvicorn on a free port, in a thread; yields its base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), worker_slots=0)
        # With the protocol named, asyncio sets TCP_NODELAY on the accepted connections;
        # without, every keep-alive response waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(create_app(store, settings), log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join()
            sock.close()


def run_shapes(store: Store, found: list[Shape], who: Callers, runs: int) -> None:
    """Time every shape server-side, then over HTTP; both must return the same rows."""
    for shape in found:

        def call(s: Shape = shape, p: Principal = who.principals[shape.who]) -> int:
            return len(jobs.history(store, p, parse_history(s.params)).jobs)

        shape.rows = measure(call, shape.server, runs)
    with serving(store) as base:
        clients = {name: _client(base, token) for name, token in who.tokens.items()}
        for shape in found:
            client = clients[shape.who]

            def get(s: Shape = shape, c: httpx.Client = client) -> int:
                response = c.get("/v1/jobs", params=s.params)
                response.raise_for_status()
                return len(response.json()["jobs"])

            rows = measure(get, shape.http, runs)
            assert rows == shape.rows, (shape.name, rows, shape.rows)
        for client in clients.values():
            client.close()


def _cuts(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def report(found: list[Shape]) -> None:
    """One table; the target column shows the p95 budget and whether the server met it."""
    print(
        f"  {'shape':44} {'server p50':>10} {'p95':>7} {'p99':>7}   "
        f"{'HTTP p50':>8} {'p95':>7} {'p99':>7}  {'rows':>4} {'runs':>4}  target (server p95)"
    )
    page_one = next(_cuts(s.server)[1] for s in found if s.name == CURSOR_PAGE_ONE)
    for shape in found:
        server, http = _cuts(shape.server), _cuts(shape.http)
        target = shape.target_ms
        if "cursor" in shape.name and shape.name != CURSOR_PAGE_ONE:
            target = 1.5 * page_one
        verdict = "" if target is None else _verdict(server[1], target)
        print(
            f"  {shape.name:44} {server[0]:10.2f} {server[1]:7.2f} {server[2]:7.2f}   "
            f"{http[0]:8.2f} {http[1]:7.2f} {http[2]:7.2f}  {shape.rows:>4} "
            f"{len(shape.server):>4}  {verdict}"
        )


def _verdict(p95: float, target: float) -> str:
    met = "met" if p95 <= target else f"MISSED x{p95 / target:.2f}"
    return f"<= {target:5.1f} ms {met}"


def explain(store: Store, shape: Shape, principal: Principal) -> None:
    """Print the plan of the statement the store runs for ``shape`` (PostgreSQL: with ANALYZE)."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("SELECT"):  # not SQLite's BEGIN
            captured.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        jobs.history(store, principal, parse_history(shape.params))
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    # The page itself, not the lookups of named users or models (nor SQLite's bounded counts).
    statement, params = next(c for c in captured if "ORDER BY" in c[0])
    postgres = store.engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    with store.read() as conn:
        plan = conn.exec_driver_sql(prefix + statement, params).all()
    print(f"\n  plan of '{shape.name}':")
    for row in plan:
        print("    " + (row[0] if postgres else f"{row[0]:>3} {row[1]:>3} {row[3]}"))


def year_params() -> dict[str, str]:
    """The last year: the window of the stats and the export."""
    return {"start": (datetime.now(UTC) - timedelta(days=365)).date().isoformat()}


def stats_shapes(store: Store, who: Callers, runs: int) -> list[Shape]:
    """Stats over the last year of the busiest member and of a typical one, per status and per
    month, server-side and HTTP."""
    found = [
        Shape(f"{caller}: stats of a year by {group}", caller, year_params() | {"group_by": group})
        for caller in ("member", "typical")
        for group in ("status", "month")
    ]
    for shape in found:
        shape.target_ms = STATS_TARGET_MS

        def call(s: Shape = shape) -> int:
            return len(reports.stats(store, who.principals[s.who], parse_stats(s.params)).groups)

        shape.rows = measure(call, shape.server, runs)
    with serving(store) as base:
        for shape in found:
            with _client(base, who.tokens[shape.who]) as client:

                def get(s: Shape = shape, c: httpx.Client = client) -> int:
                    response = c.get("/v1/jobs/stats", params=s.params)
                    response.raise_for_status()
                    return len(response.json()["groups"])

                assert measure(get, shape.http, runs) == shape.rows, shape.name
    return found


def _client(base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_SECONDS
    )


def export_report(store: Store, who: Callers) -> None:
    """Rows/s of the NDJSON export of the member's last year, server-side (the lines built,
    not sent) and over HTTP (streamed and read to the end), after one warm-up export; and its
    peak traced memory."""
    member = who.principals["member"]
    params = year_params()

    def lines(limit: int | None = None) -> Iterator[str]:
        for count, line in enumerate(ndjson_export(store, member, parse_history(params))):
            if count == limit:
                return
            yield line

    sum(1 for _ in lines())  # the warm-up, as every shape has: the year's rows read once
    began = time.perf_counter()
    rows = sum(1 for _ in lines())
    server = rows / (time.perf_counter() - began)
    with serving(store) as base, _client(base, who.tokens["member"]) as client:
        began = time.perf_counter()
        with client.stream("GET", "/v1/jobs/export", params=params) as response:
            response.raise_for_status()
            http_rows = sum(1 for _ in response.iter_lines())
        http = http_rows / (time.perf_counter() - began)
    assert http_rows == rows, (http_rows, rows)
    head, whole = _peak_mib(lines(EXPORT_HEAD_ROWS)), _peak_mib(lines())
    verdict = "met" if min(server, http) >= EXPORT_TARGET_ROWS_PER_SECOND else "MISSED"
    print(
        f"  export of the member's year (NDJSON): {rows:,} rows; server {server:,.0f} rows/s, "
        f"HTTP {http:,.0f} rows/s (target >= {EXPORT_TARGET_ROWS_PER_SECOND:,}: {verdict}); "
        f"peak traced memory {head:.1f} MiB after {EXPORT_HEAD_ROWS:,} rows, "
        f"{whole:.1f} MiB after all"
    )


def _peak_mib(walk: Iterator[str]) -> float:
    """The most memory ``walk`` held at once (traced: started before its first step)."""
    tracemalloc.start()
    try:
        for _ in walk:
            pass
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench(database: str, args: argparse.Namespace) -> None:
    print(f"{database}:")
    with prepared(database, args.jobs, args.keep, args.url) as store:
        with store.read() as conn:
            total = conn.execute(select(func.count()).select_from(jobs_table)).scalar_one()
        who = callers(store)
        sqlite = store.engine.dialect.name == "sqlite"
        print(f"  {total:,} jobs; member {who.member.username}, whose account is measured")
        pages = shapes(store, who.member, sqlite)
        pages += cursor_shapes(store, who.principals["admin"], total)
        run_shapes(store, pages, who, args.runs)
        report(pages + stats_shapes(store, who, args.runs))
        export_report(store, who)
        if args.explain:  # of the history pages (the stats are one GROUP BY over the matches)
            for shape in pages:
                if shape.target_ms is not None and _cuts(shape.server)[1] > shape.target_ms:
                    explain(store, shape, who.principals[shape.who])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs to seed")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=50, help="measured calls per shape")
    parser.add_argument("--keep", action="store_true", help="seed a database that stays")
    parser.add_argument("--url", help="measure this already seeded database; no seeding")
    parser.add_argument("--explain", action="store_true", help="print plans of missed shapes")
    args = parser.parse_args()
    each_database(bench, args)


if __name__ == "__main__":
    main()
