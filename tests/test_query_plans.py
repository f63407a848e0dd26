"""Every history shape the API allows is served by an index, on both databases.

The planner is asked (EXPLAIN) how it would run each shape; a full scan of ``jobs``, or a sort
of rows that no index narrowed, fails the test. PostgreSQL is told to avoid sequential scans
wherever it has any other way, so a tiny test table shows the plan a large one would get.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, event, text

from jobline.domain.conditions import CountCondition
from jobline.domain.history import Cursor, HistoryQuery, SortField, TimeField
from jobline.domain.records import Principal, Role
from jobline.domain.status import JobStatus
from jobline.store import Store
from jobline.store.history import page_statement
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
    event.listen(conn, "before_cursor_execute", explained, retval=True)
    try:
        result = conn.execute(page_statement(query, principal, conn.dialect.name))
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
