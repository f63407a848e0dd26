"""Stats over the history (DESIGN §3): the history's filter, summed up per group.

The filter is the history's own (:func:`jobline.store.history.conditions`, visibility
included). The matching jobs are first projected to their group values and measures (the
``matched`` subquery), and grouped over that, so an expression with bound values (a time zone)
is written once, not once in SELECT and again in GROUP BY.

Percentiles of queue and elapsed time take two paths:

- PostgreSQL computes them in the grouped query itself, with ``percentile_cont``.
- SQLite has no percentile aggregate, so there each of the two times gets one more query, a
  window-function one: ``row_number()`` ranks the time's values within each group and
  ``count()`` over the group gives its size, and only the rows at the ranks interpolation needs
  come back (at most four per group). :func:`jobline.domain.stats.percentile` interpolates them
  exactly as ``percentile_cont`` does, so both databases give the same numbers and no group's
  values are ever held in memory.

SQLite has no time zones either: there a time group calls a Python function registered on the
connection, :func:`jobline.domain.stats.bucket_start`; PostgreSQL uses ``timezone`` and
``date_trunc``, which cut periods the same way (days in the query's zone, weeks from Monday).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    FromClause,
    Integer,
    Row,
    String,
    Subquery,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.sql.functions import Function

from jobline.domain.records import Principal
from jobline.domain.stats import (
    PERCENTILES,
    GroupBy,
    Stats,
    StatsGroup,
    StatsQuery,
    bucket_start,
    percentile,
)
from jobline.domain.times import parse_zone
from jobline.store.history import TIME_COLUMNS, conditions
from jobline.store.tables import accounts, jobs

# PostgreSQL's work_mem for a stats query: a user's busiest year (~400 000 jobs) sorts in ~50 MB.
STATS_WORK_MEM = "64MB"
_SQLITE_BUCKET = "jobline_bucket"  # the name the time-group function is registered under
_COUNTED = ("total", "succeeded", "failed", "canceled", "timed_out")
_TIMES = ("queue_seconds", "elapsed_seconds")

Key = tuple[str | None, ...]
Times = dict[str, tuple[float | None, ...]]  # per time name, its percentiles


def stats(conn: Connection, query: StatsQuery, principal: Principal) -> Stats:
    """The figures of every group of the jobs ``principal`` may see that match ``query``."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # Grouping and the percentiles sort every matching job: in memory, not on disk.
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{STATS_WORK_MEM}'")
    matched = _matched(conn, query, principal)
    keys = [matched.c[f"g{i}"] for i in range(len(query.group_by))]
    figures: list[Any] = [
        func.count().label("jobs"),
        # Without groups, an empty match is still one row: its sums are 0, not NULL.
        *(func.coalesce(func.sum(matched.c[name]), 0).label(name) for name in _COUNTED),
        func.coalesce(func.sum(matched.c.cpu_seconds), 0.0).label("cpu_seconds"),
    ]
    if dialect == "postgresql":
        figures += [
            func.percentile_cont(fraction).within_group(matched.c[name]).label(f"{name}_{i}")
            for name in _TIMES
            for i, fraction in enumerate(PERCENTILES)
        ]
    rows = conn.execute(select(*keys, *figures).group_by(*keys)).all()
    times: dict[Key, Times]
    if dialect == "postgresql":
        times = {
            _key(row, len(keys)): {
                name: tuple(row._mapping[f"{name}_{i}"] for i in range(len(PERCENTILES)))
                for name in _TIMES
            }
            for row in rows
        }
    else:
        times = _ranked_percentiles(conn, matched, len(keys))
    groups = [_group(row, _key(row, len(keys)), times) for row in rows]
    groups.sort(key=lambda group: [(value is None, value or "") for value in group.key])
    return Stats(group_by=query.group_by, groups=tuple(groups), echo=query.echo())


def _group(row: Row[Any], key: Key, times: dict[Key, Times]) -> StatsGroup:
    missing = (None,) * len(PERCENTILES)
    queue, elapsed = (times.get(key, {}).get(name, missing) for name in _TIMES)
    return StatsGroup(
        key=key,
        jobs=row.jobs,
        inputs=row.total,
        succeeded=row.succeeded,
        failed=row.failed,
        canceled=row.canceled,
        timed_out=row.timed_out,
        cpu_seconds=float(row.cpu_seconds),
        queue_seconds_p50=queue[0],
        queue_seconds_p95=queue[1],
        elapsed_seconds_p50=elapsed[0],
        elapsed_seconds_p95=elapsed[1],
    )


def _key(row: Row[Any], count: int) -> Key:
    """A row's first ``count`` columns, its group values, as text (a period: its first day)."""
    values: list[str | None] = []
    for value in row[:count]:
        if isinstance(value, date):
            value = value.isoformat()
        values.append(value if value is None else str(value))
    return tuple(values)


def _matched(conn: Connection, query: StatsQuery, principal: Principal) -> Subquery:
    """The matching jobs as group values ``g0, g1…`` and the measures the figures sum up."""
    dialect = conn.dialect.name
    source: FromClause = jobs
    if GroupBy.account in query.group_by:
        source = jobs.join(accounts, accounts.c.id == jobs.c.account_id)
    if dialect == "sqlite" and any(group.is_time for group in query.group_by):
        conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
            _SQLITE_BUCKET, 3, _bucket_text, deterministic=True
        )
    groups = [
        _group_value(group, query, dialect).label(f"g{i}") for i, group in enumerate(query.group_by)
    ]
    measures = [jobs.c[name] for name in _COUNTED] + [jobs.c.cpu_seconds]
    # A time not known yet is stored as a negative number; percentiles skip it like NULL.
    times = [case((jobs.c[name] >= 0, jobs.c[name])).label(name) for name in _TIMES]
    where = conditions(conn, query.filters, principal)
    return select(*groups, *measures, *times).select_from(source).where(*where).subquery("matched")


def _group_value(group: GroupBy, query: StatsQuery, dialect: str) -> ColumnElement[Any]:
    if group.is_time:
        column = TIME_COLUMNS[query.filters.time_field]
        if dialect == "postgresql":
            local = func.timezone(query.filters.tz, column)
            return cast(func.date_trunc(group.value, local), Date)
        return Function(_SQLITE_BUCKET, column, group.value, query.filters.tz, type_=String())
    values: dict[GroupBy, ColumnElement[Any]] = {
        GroupBy.status: jobs.c.status,
        GroupBy.model: jobs.c.model_identifier,
        GroupBy.user: jobs.c.username,
        # A job submitted without a key has an empty prefix (or NULL): one "no key" group.
        GroupBy.access_key: func.nullif(jobs.c.key_prefix, ""),
        GroupBy.account: accounts.c.identifier,
    }
    return values[group]


def _bucket_text(stored: str | None, group: str, tz: str) -> str | None:
    """The SQLite function behind a time group: a stored UTC time to its period's first day."""
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored)
    return bucket_start(moment, GroupBy(group), parse_zone(tz)).isoformat()


def _ranked_percentiles(conn: Connection, matched: Subquery, key_count: int) -> dict[Key, Times]:
    """Per group key, the percentiles of each time (SQLite: see the module's docstring)."""
    keys = [matched.c[f"g{i}"] for i in range(key_count)]
    found: dict[Key, Times] = {}
    for name in _TIMES:
        value = matched.c[name]
        ranked = (
            select(
                *keys,
                value.label("value"),
                (func.row_number().over(partition_by=keys or None, order_by=value) - 1).label(
                    "rank"
                ),
                func.count().over(partition_by=keys or None).label("size"),
            )
            .where(value.is_not(None))
            .subquery("ranked")
        )
        positions = [cast(fraction * (ranked.c.size - 1), Integer) for fraction in PERCENTILES]
        near = or_(*(ranked.c.rank.between(at, at + 1) for at in positions))
        values: dict[Key, tuple[int, dict[int, float]]] = {}
        for row in conn.execute(select(ranked).where(near)):
            values.setdefault(_key(row, key_count), (row.size, {}))[1][row.rank] = row.value
        for key, (size, ranks) in values.items():
            found.setdefault(key, {})[name] = tuple(
                percentile(ranks, size, fraction) for fraction in PERCENTILES
            )
    return found
