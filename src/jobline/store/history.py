"""The one function that answers a history query (DESIGN §3), for every front-end.

Filters become bound parameters on the ``jobs`` table; the sort key is a whitelisted column
with the serial as tie-breaker, so both offset pages and keyset cursors are stable.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    exists,
    func,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB

from jobline.domain.conditions import CountCondition
from jobline.domain.history import HistoryQuery, SortField, TimeField
from jobline.domain.records import Page, Principal, Role
from jobline.store import plans
from jobline.store.jobs import job_record, job_select, visible_to
from jobline.store.tables import NEVER, accounts, inputs, jobs, models, users

SORT_COLUMNS: dict[SortField, ColumnElement[Any]] = {
    SortField.identifier: jobs.c.identifier,
    SortField.serial: jobs.c.id,
    SortField.name: jobs.c.name,
    SortField.submittedBy: jobs.c.key_prefix,
    SortField.user: jobs.c.username,
    SortField.status: jobs.c.status,
    SortField.createdAt: jobs.c.created_at,
    SortField.updatedAt: jobs.c.updated_at,
    SortField.submittedAt: jobs.c.submitted_at,
    SortField.finishedAt: jobs.c.finished_at,
    SortField.total: jobs.c.total,
    SortField.completed: jobs.c.succeeded,
    SortField.failed: jobs.c.failed,
    SortField.model: jobs.c.model_identifier,
    SortField.elapsedTime: jobs.c.elapsed_seconds,
    SortField.queueTime: jobs.c.queue_seconds,
    SortField.cpuTime: jobs.c.cpu_seconds,
}

TIME_COLUMNS = {
    TimeField.submitted: jobs.c.submitted_at,
    TimeField.created: jobs.c.created_at,
    TimeField.updated: jobs.c.updated_at,
    TimeField.finished: jobs.c.finished_at,
}


def conditions(
    conn: Connection, query: HistoryQuery, principal: Principal
) -> list[ColumnElement[bool]]:
    """The WHERE clause of a history query, visibility included.

    Users, accounts and models named by the query are looked up first, and the jobs filtered
    by the ids found: the planners then see the values (PostgreSQL estimates each one from its
    statistics; a subquery of ``LIKE`` matches it takes for one row, so a name matching 48
    users made it fetch and sort all of their jobs).
    """
    where = [c for c in (visible_to(principal),) if c is not None]
    where += _who(conn, query) + _what(conn, query) + _labels(query, conn.dialect.name)
    if query.statuses is not None:
        where.append(jobs.c.status.in_(sorted(s.value for s in query.statuses)))
    column = TIME_COLUMNS[query.time_field]
    if query.time_field is TimeField.finished:
        where.append(column < NEVER)  # unfinished jobs are outside every finished window
    if query.start is not None:
        where.append(column >= query.start)
    if query.end is not None:
        where.append(column <= query.end)
    return where


def _similar(column: Any, text: str) -> ColumnElement[bool]:
    result: ColumnElement[bool] = func.lower(column).contains(text.lower(), autoescape=True)
    return result


def _ids(conn: Connection, found: Select[Any]) -> list[int]:
    return sorted(int(found_id) for found_id in conn.execute(found).scalars())


def _who(conn: Connection, query: HistoryQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.users:
        full_name = users.c.first_name + " " + users.c.last_name
        matches = [
            or_(*(_similar(col, name) for col in (users.c.username, full_name, users.c.email)))
            for name in query.users
        ]
        where.append(jobs.c.user_id.in_(_ids(conn, select(users.c.id).where(or_(*matches)))))
    if query.user_ids:
        ids = select(users.c.id).where(users.c.identifier.in_(query.user_ids))
        where.append(jobs.c.user_id.in_(_ids(conn, ids)))
    if query.access_keys:
        where.append(jobs.c.key_prefix.in_(query.access_keys))
    if query.accounts:
        ids = select(accounts.c.id).where(accounts.c.identifier.in_(query.accounts))
        where.append(jobs.c.account_id.in_(_ids(conn, ids)))
    return where


def _what(conn: Connection, query: HistoryQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.models:
        matches = [
            or_(_similar(models.c.identifier, m), _similar(models.c.name, m)) for m in query.models
        ]
        found = select(models.c.id).where(or_(*matches))
        where.append(jobs.c.model_id.in_(_ids(conn, found)))
    if query.model_versions:
        where.append(jobs.c.model_version.in_(query.model_versions))
    if query.job_identifiers or query.serials:
        # UUIDs become serials first, so the page is a handful of primary-key reads.
        found = select(jobs.c.id).where(jobs.c.identifier.in_(query.job_identifiers))
        serials = {*query.serials, *(_ids(conn, found) if query.job_identifiers else ())}
        where.append(jobs.c.id.in_(sorted(serials)))
    if query.name_contains:
        where.append(_similar(jobs.c.name, query.name_contains))
    if query.search:
        failed_inputs = select(inputs.c.id).where(
            inputs.c.job_id == jobs.c.id, _similar(inputs.c.error, query.search)
        )
        texts = (jobs.c.name, jobs.c.description, jobs.c.message)
        where.append(or_(*(_similar(t, query.search) for t in texts), exists(failed_inputs)))
    where += [_count_condition(condition) for condition in query.counts]
    return where


_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}


def _count_condition(condition: CountCondition) -> ColumnElement[bool]:
    left = jobs.c[condition.left]
    right = jobs.c[condition.right] if isinstance(condition.right, str) else condition.right
    compare: ColumnElement[bool] = _OPERATORS[condition.op](left, right)
    return compare


def _labels(query: HistoryQuery, dialect: str) -> list[ColumnElement[bool]]:
    if dialect == "postgresql":
        labels = type_coerce(jobs.c.labels, JSONB)
        return [labels.contains([label]) for label in query.labels]
    where: list[ColumnElement[bool]] = []
    for label in query.labels:
        values = func.json_each(jobs.c.labels).table_valued("value")
        where.append(exists(select(1).select_from(values).where(values.c.value == label)))
    return where


def page_statement(
    conn: Connection,
    query: HistoryQuery,
    where: list[ColumnElement[bool]],
    columns: Select[Any] | None = None,
) -> Select[Any]:
    """The SELECT of one page of the jobs matching ``where`` (the query's :func:`conditions`):
    one row more than a page, to tell whether more follow. ``columns`` (a Job record's by
    default) gets the sort key added as the last one."""
    key = SORT_COLUMNS[query.sort]
    order = (key.desc(), jobs.c.id.desc()) if query.descending else (key.asc(), jobs.c.id.asc())
    columns = job_select() if columns is None else columns
    statement = columns.add_columns(key.label("sort_key")).where(*where)
    if conn.dialect.name == "sqlite":
        # A list of jobs is read by its serials, whatever else narrows (SQLite would walk a
        # scope's index in page order instead, however many jobs the scope has).
        ids = query.job_identifiers or query.serials
        clause = "NOT INDEXED" if ids else plans.indexed(conn, where, key.name)
        statement = plans.with_index(statement, clause)
    if query.cursor is not None:
        position = tuple_(key, jobs.c.id)
        after = (query.cursor.key, query.cursor.serial)
        statement = statement.where(position < after if query.descending else position > after)
    return statement.order_by(*order).limit(query.per_page + 1).offset(query.offset)


def page(conn: Connection, query: HistoryQuery, principal: Principal) -> Page:
    """One page of the jobs ``principal`` may see that match ``query``."""
    where = conditions(conn, query, principal)
    rows = conn.execute(page_statement(conn, query, where)).all()
    has_more = len(rows) > query.per_page
    rows = rows[: query.per_page]
    next_cursor = None
    if has_more:
        next_cursor = query.cursor_after(rows[-1].sort_key, rows[-1].id).encode()
    total, exact = _total(conn, query, principal, where) if query.with_total else (None, False)
    return Page(
        jobs=tuple(job_record(row) for row in rows),
        has_more=has_more,
        next_cursor=next_cursor,
        total=total,
        total_exact=exact,
        echo=query.echo(),
    )


def _total(
    conn: Connection, query: HistoryQuery, principal: Principal, where: list[ColumnElement[bool]]
) -> tuple[int, bool]:
    """How many jobs match, and whether that is exact.

    Counting is exact where it is cheap: a user-scoped or time-bounded query, or any query on
    SQLite (an embedded store is small). Otherwise PostgreSQL's planner estimate is given, and
    labelled as an estimate, so asking for a total never costs a scan of the whole table.
    """
    counting = select(func.count()).select_from(jobs).where(*where)
    scoped = principal.role is Role.MEMBER or any(
        (query.users, query.user_ids, query.access_keys, query.job_identifiers, query.serials)
    )
    bounded = query.start is not None and query.end is not None
    if scoped or bounded or conn.dialect.name != "postgresql":
        return conn.execute(counting).scalar_one(), True
    estimating = select(jobs.c.id).where(*where).compile(dialect=conn.dialect)
    plan = conn.exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + str(estimating), estimating.params
    ).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"]), False
