"""Every history shape the API allows is served by an index, on both databases.

The planner is asked (EXPLAIN) how it would run each shape; a full scan of ``jobs``, or a sort
of rows that no index narrowed, fails the test. PostgreSQL is told to avoid sequential scans
wherever it has any other way, so a tiny test table shows the plan a large one would get.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, text

from jobline.core import jobs as core_jobs
from jobline.core.jobs import Submission
from jobline.domain.conditions import CountCondition
from jobline.domain.history import Cursor, HistoryQuery, SortField, TimeField
from jobline.domain.records import Principal, Role
from jobline.domain.stats import parse_stats
from jobline.domain.status import JobStatus
from jobline.store import Store
from jobline.store import stats as stats_store
from jobline.store import users as user_store
from jobline.store.bulk import update_rows
from jobline.store.history import SORT_COLUMNS, conditions, page_statement
from jobline.store.jobs import visible_to
from jobline.store.pick import fair_pick
from jobline.store.plans import SORT_LIMIT
from jobline.store.seed import SeedPlan, seed
from jobline.store.tables import jobs, sort_index_name, users
from tests.conftest import MakeUser

WEEK = {"start": datetime(2024, 1, 1, tzinfo=UTC), "end": datetime(2024, 1, 8, tzinfo=UTC)}
FILTERS: dict[str, dict[str, Any]] = {
    "nothing": {},
    "status": {"statuses": frozenset({JobStatus.ERROR})},
    "category": {"statuses": frozenset({JobStatus.OPEN, JobStatus.SUBMITTED})},
    "access key": {"access_keys": ("AAAAAAAAAAAAAAAAAAAA",)},
    "model": {"models": ("senti",)},
    "user": {"users": ("ann",)},
    "account": {"accounts": ("acme",)},
    "job ids": {"job_identifiers": ("7f1c2a10-0000-4000-8000-000000000000",), "serials": (4, 5)},
    "name": {"name_contains": "report"},
    "counts": {"counts": (CountCondition("failed", ">=", 1),)},
    **{f"{field.value} window": {"time_field": field, **WEEK} for field in TimeField},
}


def _explain(conn: Connection, query: HistoryQuery, principal: Principal) -> list[str]:
    """Problems with the plan of one page of ``query``: empty when indexes serve it."""
    postgres = conn.dialect.name == "postgresql"
    prefix = "EXPLAIN (FORMAT JSON) " if postgres else "EXPLAIN QUERY PLAN "

    def explained(*args: Any) -> tuple[str, Any]:
        # Let SQLAlchemy compile and bind as always, and ask for the plan instead of rows.
        statement, parameters = args[2], args[3]
        return prefix + statement, parameters

    if postgres:
        # A tiny table is cheapest to scan and sort whole; ask for the large-table plan.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        conn.execute(text("SET LOCAL enable_sort = off"))
    # Built first: the lookups and counts it runs are not the statement to explain.
    statement = page_statement(conn, query, conditions(conn, query, principal))
    event.listen(conn, "before_cursor_execute", explained, retval=True)
    try:
        result = conn.execute(statement)
        rows = result.cursor.fetchall()
    finally:
        event.remove(conn, "before_cursor_execute", explained)
    if postgres:
        return _pg_problems(rows[0][0][0]["Plan"])
    # SQLite: "SCAN jobs" walks the whole table (in rowid order: the serial sort), "SCAN jobs
    # USING INDEX" the whole index in its order; either is fine unless it must then be sorted.
    details = [str(row[-1]) for row in rows]
    walks = [d for d in details if d == "SCAN jobs" or d.startswith("SCAN jobs USING")]
    if walks and any("TEMP B-TREE FOR ORDER BY" in d for d in details):
        return [f"sorts a full walk: {walks}"]
    return []


def _pg_problems(node: dict[str, Any]) -> list[str]:
    problems = []
    if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "jobs":
        problems.append("sequential scan of jobs")
    if node["Node Type"] == "Sort" and _unnarrowed_jobs_scan(node):
        problems.append(f"sort of the whole jobs table by {node.get('Sort Key')}")
    for child in node.get("Plans", []):
        problems += _pg_problems(child)
    return problems


def _unnarrowed_jobs_scan(node: dict[str, Any]) -> bool:
    if node.get("Relation Name") == "jobs" and node["Node Type"] in (
        "Seq Scan",
        "Index Scan",
        "Index Only Scan",
    ):
        return "Index Cond" not in node
    return any(_unnarrowed_jobs_scan(child) for child in node.get("Plans", []))


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.MEMBER])
def test_every_filter_and_sort_is_served_by_an_index(
    store: Store, make_user: MakeUser, role: Role
) -> None:
    user, _ = make_user("ann", role=role)
    principal = Principal(user=user, key_prefix=None)
    problems = {}
    with store.read() as conn:
        for name, filters in FILTERS.items():
            for sort in SortField:
                for descending in (True, False):
                    query = HistoryQuery(sort=sort, descending=descending, **filters)
                    found = _explain(conn, query, principal)
                    if found:
                        problems[f"{name} / {sort.value} {'DESC' if descending else 'ASC'}"] = found
    assert problems == {}


def test_a_deep_cursor_page_is_an_index_seek(store: Store, make_user: MakeUser) -> None:
    user, _ = make_user("root", role=Role.ADMIN)
    principal = Principal(user=user, key_prefix=None)
    cursor = Cursor(SortField.submittedAt, True, "2024-01-01T00:00:00+00:00", 1234)
    query = HistoryQuery(cursor=cursor)
    with store.read() as conn:
        assert _explain(conn, query, principal) == []


def _sqlite_plan(conn: Connection, statement: Any) -> list[str]:
    def explained(*args: Any) -> tuple[str, Any]:
        return "EXPLAIN QUERY PLAN " + args[2], args[3]

    event.listen(conn, "before_cursor_execute", explained, retval=True)
    try:
        rows = conn.execute(statement).cursor.fetchall()
    finally:
        event.remove(conn, "before_cursor_execute", explained)
    return [str(row[-1]) for row in rows]


def _members_by_jobs(conn: Connection) -> list[tuple[int, int]]:
    """(user id, jobs) of every member, fewest jobs first."""
    counted = (
        select(jobs.c.user_id, func.count())
        .join(users, users.c.id == jobs.c.user_id)
        .where(users.c.role == Role.MEMBER.value)
        .group_by(jobs.c.user_id)
        .order_by(func.count())
    )
    return [(row[0], row[1]) for row in conn.execute(counted)]


@pytest.fixture
def skewed(store: Store) -> Store:
    """A history where one member owns more jobs than a page sorts (``plans.SORT_LIMIT``)."""
    seed(store, SeedPlan(jobs=3 * SORT_LIMIT, users=6, accounts=2, models=3))
    return store


def _scope_problems(conn: Connection, principal: Principal, large: bool) -> dict[str, str]:
    """What is wrong with the pages of ``principal``'s scope in every order: rows that differ
    from a plain ORDER BY, and (SQLite) a large scope that is sorted or a small one walked."""
    scope = visible_to(principal)
    assert scope is not None
    problems = {}
    for sort in SortField:
        for descending in (True, False):
            query = HistoryQuery(sort=sort, descending=descending, per_page=20)
            label = f"{sort.value} {'DESC' if descending else 'ASC'}"
            statement = page_statement(conn, query, conditions(conn, query, principal))
            key = SORT_COLUMNS[sort]
            order = (key.desc(), jobs.c.id.desc()) if descending else (key, jobs.c.id)
            wanted = select(jobs.c.id).where(scope).order_by(*order).limit(21)
            if [row.id for row in conn.execute(statement)] != list(conn.execute(wanted).scalars()):
                problems[label] = "not the jobs of a plain ORDER BY"
            if conn.dialect.name != "sqlite" or sort is SortField.identifier:
                continue  # PostgreSQL plans by its statistics; identifier: see store/plans.py
            plan = _sqlite_plan(conn, statement)
            sorts = any("TEMP B-TREE FOR ORDER BY" in step for step in plan)
            walked = sort_index_name(key.name)
            in_order = sort is SortField.submittedAt or sort is SortField.serial
            if large and sorts:
                problems[label] = f"sorts the whole scope: {plan}"
            elif large and not in_order and not any(walked in step for step in plan):
                problems[label] = f"does not walk {walked}: {plan}"
            elif not large and any(walked in step for step in plan) and not in_order:
                problems[label] = f"walks {walked} for a small scope: {plan}"
    return problems


def test_a_large_scope_walks_the_sort_index_and_a_small_one_is_sorted(skewed: Store) -> None:
    with skewed.read() as conn:
        owners = _members_by_jobs(conn)
        small, large = (user_store.get_user(conn, user_id=owners[i][0]) for i in (0, -1))
        manager = next(
            u for u in user_store.list_users(conn, large.account_id) if u.role is Role.MANAGER
        )
        in_account = conn.execute(
            select(func.count()).where(jobs.c.account_id == large.account_id)
        ).scalar_one()
        assert owners[0][1] < SORT_LIMIT <= owners[-1][1] <= in_account
        problems = {
            f"{who} / {label}": problem
            for who, user, is_large in (
                ("small member", small, False),
                ("large member", large, True),
                ("manager", manager, True),
            )
            for label, problem in _scope_problems(
                conn, Principal(user=user, key_prefix=None), is_large
            ).items()
        }
    assert problems == {}


def test_pending_jobs_of_a_large_scope_are_found_through_the_status_index(
    skewed: Store,
) -> None:
    with skewed.read() as conn:
        user = user_store.get_user(conn, user_id=_members_by_jobs(conn)[-1][0])
        pending = frozenset({JobStatus.OPEN, JobStatus.SUBMITTED, JobStatus.IN_PROGRESS})
        query = HistoryQuery(statuses=pending)
        statement = page_statement(
            conn, query, conditions(conn, query, Principal(user=user, key_prefix=None))
        )
        got = [row.id for row in conn.execute(statement)]
        wanted = conn.execute(
            select(jobs.c.id)
            .where(jobs.c.user_id == user.id, jobs.c.status.in_([s.value for s in pending]))
            .order_by(jobs.c.submitted_at.desc(), jobs.c.id.desc())
            .limit(51)
        ).scalars()
        assert got == list(wanted)
        if conn.dialect.name == "sqlite":
            plan = _sqlite_plan(conn, statement)
            assert any(f"INDEX {sort_index_name('status')}" in step for step in plan), plan


def test_a_list_of_job_ids_of_a_large_scope_reads_only_those_jobs(store: Store) -> None:
    # Many users, so the planner takes any one user's jobs to be few (it has no per-value
    # statistics): walking the busiest member's index would then look cheap, and is not.
    seed(store, SeedPlan(jobs=3 * SORT_LIMIT, users=300, accounts=10, models=3))
    with store.read() as conn:
        user = user_store.get_user(conn, user_id=_members_by_jobs(conn)[-1][0])
        picked = conn.execute(
            select(jobs.c.id, jobs.c.identifier).where(jobs.c.user_id == user.id).limit(6)
        ).all()
        query = HistoryQuery(
            job_identifiers=tuple(row.identifier for row in picked[:3]),
            serials=(*(row.id for row in picked[3:]), 10**9),  # one that does not exist
        )
        principal = Principal(user=user, key_prefix=None)
        statement = page_statement(conn, query, conditions(conn, query, principal))
        assert sorted(row.id for row in conn.execute(statement)) == sorted(r.id for r in picked)
        if conn.dialect.name == "sqlite":
            plan = _sqlite_plan(conn, statement)
            assert any("USING INTEGER PRIMARY KEY" in step for step in plan), plan
            assert not any("ix_jobs_user_id" in step for step in plan), plan


@pytest.mark.parametrize("group_by", ["status", "month", "model"])
def test_a_members_stats_over_a_window_read_only_the_user_index(
    skewed: Store, group_by: str
) -> None:
    """PostgreSQL: the user index carries what stats read (an index-only scan, no row read);
    SQLite: the user index narrows the rows read."""
    with skewed.read() as conn:
        user = user_store.get_user(conn, user_id=_members_by_jobs(conn)[-1][0])
        principal = Principal(user=user, key_prefix=None)
        query = parse_stats({"start": "2020-01-01", "group_by": group_by})
        with _statements(conn) as statements:
            figures = stats_store.stats(conn, query, principal)
        assert sum(group.jobs for group in figures.groups) > 0
        grouped = next(s for s in statements if "GROUP BY" in s[0])
        postgres = conn.dialect.name == "postgresql"
        prefix = "EXPLAIN (FORMAT JSON) " if postgres else "EXPLAIN QUERY PLAN "
        if postgres:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = conn.exec_driver_sql(prefix + grouped[0], grouped[1]).all()
        if postgres:
            scans = _scans(rows[0][0][0]["Plan"])
            assert scans == [("Index Only Scan", "ix_jobs_user_id_submitted_at_id")], scans
        else:
            plan = [str(row[-1]) for row in rows]
            assert any("USING INDEX ix_jobs_user_id_submitted_at_id" in s for s in plan), plan


def test_a_batch_of_job_changes_reads_only_its_jobs(store: Store) -> None:
    """A worker's report updates its jobs through their keys, not a scan of every job (the
    planner takes a batch to hold 100 rows, and a table of some thousands to be cheaper to
    read whole than to probe 100 times)."""
    seed(store, SeedPlan(jobs=4_000, users=6, accounts=2, models=3))
    at = datetime(2024, 1, 1, tzinfo=UTC)
    with store.write() as conn:
        ids = list(conn.execute(select(jobs.c.id).order_by(jobs.c.id).limit(30)).scalars())
        changes = [{"id": job_id, "cpu_seconds": 1.5} for job_id in ids]
        with _statements(conn) as statements:
            update_rows(conn, jobs, changes, same={"updated_at": at})
        changed = conn.execute(select(jobs.c.cpu_seconds).where(jobs.c.id.in_(ids))).scalars()
        assert set(changed) == {1.5}
        if conn.dialect.name == "sqlite":
            return  # SQLite updates row by row, by key
        ((statement, parameters),) = statements
        rows = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).all()
        scans = _scans(rows[0][0][0]["Plan"])
        assert scans and all(kind != "Seq Scan" for kind, _ in scans), scans


def test_a_claim_planned_once_walks_the_index_of_queued_inputs(
    store: Store, make_user: MakeUser
) -> None:
    """The queue's statements are planned once for any parameters on PostgreSQL: the claim
    must still read the partial index of queued inputs, not every input (it did, 60 ms a
    claim at 20,000 queued). SQLite reads the same index."""
    user, _ = make_user("ann")
    caller = Principal(user=user, key_prefix=None)
    for _ in range(3):
        core_jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
    with store.write(plan_once=True) as conn:
        with _statements(conn) as statements:
            assert len(fair_pick(conn, None, 3)) == 3
        rest = next((s, p) for s, p in statements if "ORDER BY inputs.job_id, inputs.id" in s)
        if conn.dialect.name == "sqlite":
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + rest[0], rest[1]).all()
            assert any("ix_inputs_queued" in str(step[-1]) for step in plan), plan
            return
        # The plan made once: a prepared statement's generic plan, parameters as $1, $2, ...
        statement, parameters = rest
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
        prepared = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", statement)
        conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        conn.exec_driver_sql("PREPARE claim_rest AS " + prepared)
        arguments = ", ".join(_sql_literal(parameters[name]) for name in names)
        explain = f"EXPLAIN (FORMAT JSON) EXECUTE claim_rest({arguments})"
        rows = conn.exec_driver_sql(explain).all()
        assert ("Index Scan", "ix_inputs_queued") in _scans(rows[0][0][0]["Plan"], "inputs")


@contextmanager
def _statements(conn: Connection) -> Iterator[list[tuple[str, Any]]]:
    """The statements (text, parameters) that ``conn`` runs within the block."""
    statements: list[tuple[str, Any]] = []

    def seen(*args: Any) -> None:
        statements.append((args[2], args[3]))

    event.listen(conn, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(conn, "before_cursor_execute", seen)


def _sql_literal(value: Any) -> str:
    """An EXECUTE argument (a utility statement takes no parameters): ints, texts, lists."""
    if isinstance(value, list):
        return "'{" + ",".join(map(str, value)) + "}'"
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def _scans(node: dict[str, Any], table: str = "jobs") -> list[tuple[str, str]]:
    """(node type, index) of every scan of ``table`` in a PostgreSQL plan."""
    found = []
    if node.get("Relation Name") == table:
        found.append((node["Node Type"], node.get("Index Name", "")))
    for child in node.get("Plans", []):
        found += _scans(child, table)
    return found
