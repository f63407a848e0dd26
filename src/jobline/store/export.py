"""What an export reads: the history's jobs (same filters, visibility and order as
:func:`~jobline.store.history.page`) a keyset page at a time, either as plain rows for Python
to render, or, on PostgreSQL, as the JSON lines the database writes itself.

An export of millions of jobs spends its time per row: decoding ~33 columns (timestamps,
JSONB) and building a dict to serialise cost ~50 us a job in Python, so on PostgreSQL the
database writes each job's JSON object and Python only joins the lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Numeric,
    Text,
    case,
    cast,
    func,
    literal_column,
    select,
    tuple_,
)

from jobline.domain.cursor import Cursor
from jobline.domain.history import HistoryQuery
from jobline.domain.ordering import TIME_SORTS
from jobline.domain.records import JobRow, Principal
from jobline.domain.status import JobStatus
from jobline.store.history import SORT_COLUMNS, conditions, page_statement
from jobline.store.jobs import job_select
from jobline.store.tables import NEVER, NO_KEY, NOT_YET, accounts, jobs, models, users, utc

# The columns of a JobRow, in its order, each as the driver gives it.
_ROW_COLUMNS = (
    *(jobs.c.id, jobs.c.identifier, jobs.c.name, jobs.c.description, jobs.c.model_identifier),
    *(models.c.name, jobs.c.model_version, accounts.c.identifier, users.c.identifier),
    *(jobs.c.username, jobs.c.timeout_seconds, jobs.c.status, jobs.c.message, jobs.c.total),
    *(jobs.c.queued, jobs.c.running, jobs.c.succeeded, jobs.c.failed, jobs.c.canceled),
    *(jobs.c.timed_out, jobs.c.cpu_seconds, jobs.c.submission_bytes, jobs.c.result_bytes),
    *(jobs.c.key_prefix, jobs.c.explain, jobs.c.args, jobs.c.labels, jobs.c.created_at),
    *(jobs.c.submitted_at, jobs.c.started_at, jobs.c.finished_at, jobs.c.updated_at),
    *(jobs.c.queue_seconds, jobs.c.elapsed_seconds),
)


def export_page(
    conn: Connection, query: HistoryQuery, principal: Principal
) -> tuple[list[JobRow], str | None]:
    """The jobs of :func:`~jobline.store.history.page` (same filters, visibility and order),
    as :class:`JobRow` values, and the cursor of the next page, if any: what an export reads.

    The rows are the driver's own tuples: a SQLAlchemy row with its columns' type processors
    and a Job record per job were most of an export's time, so the few values stored in
    another form (text times and JSON on SQLite, the "no key" / "not yet" marks) are turned
    into what :func:`~jobline.store.jobs.job_record` gives here, in one pass.
    """
    where = conditions(conn, query, principal)
    columns = job_select().with_only_columns(*_ROW_COLUMNS)
    result = conn.execute(page_statement(conn, query, where, columns))
    rows = result.cursor.fetchall()  # the DBAPI cursor: no SQLAlchemy Row, no processors
    result.close()
    load = json.loads if conn.dialect.name == "sqlite" else _loaded  # psycopg loads JSONB
    next_cursor = None
    if len(rows) > query.per_page:
        rows = rows[: query.per_page]
        key, serial = rows[-1][-1], rows[-1][0]  # each row ends with its sort key
        key = utc(key) if query.sort in TIME_SORTS else key
        next_cursor = query.cursor_after(key, serial).encode()
    return [_job_row(row, load) for row in rows], next_cursor


def page_end(conn: Connection, query: HistoryQuery, principal: Principal) -> Cursor | None:
    """The cursor of the last job of the page after ``query.cursor`` when more jobs follow
    it; None when that page is the last. A walk of the sort key's index: no job is read."""
    where = conditions(conn, query, principal)
    statement = page_statement(conn, query, where, select(jobs.c.id))
    rows = conn.execute(statement.limit(2).offset(query.per_page - 1)).all()
    if len(rows) < 2:
        return None
    key = utc(rows[0].sort_key) if query.sort in TIME_SORTS else rows[0].sort_key
    return query.cursor_after(key, rows[0].id)


def export_lines(
    conn: Connection, query: HistoryQuery, principal: Principal, through: Cursor | None
) -> list[str]:
    """The jobs after ``query.cursor`` up to the one of ``through`` (a :func:`page_end`; None:
    all that follow), in the history's order, each as its history job object's JSON text
    (one NDJSON line, without its line end), written by PostgreSQL: see :func:`job_json`."""
    where = conditions(conn, query, principal)
    if through is not None:
        position, last = tuple_(SORT_COLUMNS[query.sort], jobs.c.id), (through.key, through.serial)
        where.append(position >= last if query.descending else position <= last)
    columns = job_select().with_only_columns(job_json())
    # Not limited: the page ends at ``through``, jobs that moved into it since included.
    statement = page_statement(conn, query, where, columns).limit(None)
    result = conn.execute(statement)
    rows = result.cursor.fetchall()  # the DBAPI cursor: no SQLAlchemy Row, no processors
    result.close()
    return [row[0] for row in rows]


_AS_STORED = JobRow._fields.index("key_prefix")  # the columns before it need no turning


def _job_row(row: Any, load: Callable[[Any], Any]) -> JobRow:
    stored = row[_AS_STORED:]
    key, explain, args, labels, created, submitted, started, finished, updated, *rest = stored
    queue, elapsed, _sort_key = rest
    return JobRow._make(
        (
            *row[:_AS_STORED],
            key or None,
            bool(explain),
            load(args),
            load(labels),
            utc(created),
            utc(submitted),
            utc(started),
            None if (done := utc(finished)) == NEVER else done,
            utc(updated),
            None if queue == NOT_YET else queue,
            None if elapsed == NOT_YET else elapsed,
        )
    )


def _loaded(value: Any) -> Any:
    return value


@cache  # one expression: built once, and SQLAlchemy compiles it once
def job_json() -> ColumnElement[str]:
    """A job's history object as PostgreSQL writes it: the text that
    ``JobOut.of(job).model_dump_json()`` (and ``api.reports.job_object`` through
    ``pydantic_core.to_json``) gives, key for key and byte for byte.

    This is the wire format's second definition, next to ``JobOut`` and ``job_object``: a
    field added there must be added here. In tests/test_stats_export.py,
    ``test_export_lines_are_the_history_job_json_byte_for_byte`` ties the three together
    byte for byte on PostgreSQL, and ``test_export_lines_match_the_job_json_on_edge_values``
    does with the edge values of each kind (times without microseconds, float spellings,
    escapes, args with ``": ,`` in their strings).

    Where the texts may differ, the line still parses to the same value: numbers inside
    ``args`` are written as JSONB keeps them (``2.50``, ``0.0000001``; pydantic writes the
    float Python read back: ``2.5``, ``1e-7``), and integral floats of 1e16 or more in the
    seconds columns carry PostgreSQL's exact digits (``1.8626808486546152e+16`` for
    pydantic's ``1.862680848654615e+16``). Non-finite floats are not stored.
    """
    return _concat(
        _object(
            identifier=_uuid(jobs.c.identifier),
            serial=_integer(jobs.c.id),
            name=_string(jobs.c.name),
            description=_string(jobs.c.description),
            model=_object(
                identifier=_string(jobs.c.model_identifier),
                name=_string(models.c.name),
                version=_string(jobs.c.model_version),
            ),
            account=_string(accounts.c.identifier),
            user=_string(jobs.c.username),
            user_identifier=_uuid(users.c.identifier),
            access_key=_unless(jobs.c.key_prefix == NO_KEY, _string(jobs.c.key_prefix)),
            explain=[case((jobs.c.explain, _sql("true")), else_=_sql("false"))],
            timeout_seconds=_nullable(_float(jobs.c.timeout_seconds)),
            labels=_compact(jobs.c.labels, "[]"),
            args=_compact(jobs.c.args, "{}"),
            status=[_status_and_category()],
            message=_string(jobs.c.message),
            counts=_object(
                total=_integer(jobs.c.total),
                queued=_integer(jobs.c.queued),
                running=_integer(jobs.c.running),
                succeeded=_integer(jobs.c.succeeded),
                failed=_integer(jobs.c.failed),
                canceled=_integer(jobs.c.canceled),
                timed_out=_integer(jobs.c.timed_out),
            ),
            created_at=_time(jobs.c.created_at),
            submitted_at=_nullable(_time(jobs.c.submitted_at)),
            started_at=_nullable(_time(jobs.c.started_at)),
            finished_at=_unless(jobs.c.finished_at == NEVER, _time(jobs.c.finished_at)),
            updated_at=_time(jobs.c.updated_at),
            queue_seconds=_unless(jobs.c.queue_seconds == NOT_YET, _float(jobs.c.queue_seconds)),
            elapsed_seconds=_unless(
                jobs.c.elapsed_seconds == NOT_YET, _float(jobs.c.elapsed_seconds)
            ),
            cpu_seconds=_float(jobs.c.cpu_seconds),
            submission_bytes=_integer(jobs.c.submission_bytes),
            result_bytes=_integer(jobs.c.result_bytes),
        )
    )


# A JSON text is built as parts: literal JSON text (str) and SQL text expressions, so that
# neighbouring literals (a key, its punctuation) become one SQL string constant.
Parts = list[str | ColumnElement[str]]


def _object(**members: Parts) -> Parts:
    parts: Parts = ["{"]
    for number, (key, value) in enumerate(members.items()):
        parts += [("," if number else "") + json.dumps(key) + ":", *value]
    return [*parts, "}"]


def _concat(parts: Parts) -> ColumnElement[str]:
    """The parts as one text, joined with ``||`` (NULL if a part is: :func:`_nullable`)."""
    merged: list[ColumnElement[str]] = []
    literal = ""
    for part in parts:
        if isinstance(part, str):
            literal += part
            continue
        if literal:
            merged.append(_sql(literal))
            literal = ""
        merged.append(part)
    if literal:
        merged.append(_sql(literal))
    text = merged[0]
    for part in merged[1:]:
        text = text.op("||")(part)
    return text


def _sql(text: str) -> ColumnElement[str]:
    """A SQL string constant (standard-conforming: only quotes are doubled)."""
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def _string(column: Any) -> Parts:
    # to_json escapes as pydantic does: \" \\ \b \f \n \r \t, other controls as \u00XX,
    # everything else (non-ASCII, U+2028, DEL) as is.
    return [cast(func.to_json(column), Text)]


def _uuid(column: Any) -> Parts:
    """A UUID the store generated (``str(uuid.uuid4())``): nothing in it needs escaping."""
    return ['"', column, '"']


def _integer(column: Any) -> Parts:
    return [cast(column, Text)]


def _float(column: Any) -> Parts:
    """A float8 as pydantic writes a float: PostgreSQL's shortest round-trip digits (its
    default ``extra_float_digits``), then pydantic's spelling: ``3.0`` for an integral value,
    plain decimals from 1e-5 up to 1e16 (PostgreSQL: 1e-4 up to 1e15), and ``1e-7`` /
    ``1e+16`` beyond (PostgreSQL: ``1e-07``)."""
    plain = cast(column, Text)
    return [
        case(
            ((column == func.trunc(column)) & (func.abs(column) < 1e15), plain.op("||")(".0")),
            ((func.abs(column) >= 1e-4) & (func.abs(column) < 1e15), plain),
            (
                (func.abs(column) >= 1e-5) & (func.abs(column) < 1e16),
                # PostgreSQL wrote these with an exponent: numeric spells its exact decimal.
                func.regexp_replace(cast(cast(plain, Numeric), Text), r"^(-?\d+)$", r"\1.0"),
            ),
            else_=func.regexp_replace(plain, "e([-+])0+", r"e\1"),
        )
    ]


def _time(column: Any) -> Parts:
    """A timestamptz as pydantic writes an aware UTC datetime: ISO 8601 with ``Z``, and its
    microseconds (six digits) only when there are some."""
    # timezone('UTC', t) is t AT TIME ZONE 'UTC': a UTC wall time, whatever the session's zone.
    wall = func.timezone(_sql("UTC"), column)
    moment = func.to_char(wall, _sql('YYYY-MM-DD"T"HH24:MI:SS.US'))
    return ['"', func.replace(moment, _sql(".000000"), _sql("")), 'Z"']


def _nullable(value: Parts) -> Parts:
    return [func.coalesce(_concat(value), _sql("null"))]


def _unless(missing: ColumnElement[bool], value: Parts) -> Parts:
    """``value``, or null where the column holds its "no key" / "not yet" mark."""
    return [case((missing, _sql("null")), else_=_concat(value))]


def _compact(column: Any, empty: str) -> Parts:
    """A JSONB value's text without the spaces PostgreSQL puts after ``:`` and ``,``: the
    spaces outside string literals go (a literal is matched whole, escapes included, and
    kept). Keys stay in JSONB's order, the order psycopg hands the Python path too."""
    text = cast(column, Text)
    squeezed = func.regexp_replace(text, r'("(?:[^"\\]|\\.)*")| ', r"\1", "g")
    return [case((text == empty, _sql(empty)), else_=squeezed)]


def _status_and_category() -> ColumnElement[str]:
    """The status, then the ``category`` member, ``JobStatus(status).category``, both from
    the enum itself: one CASE writes the two."""
    both = {
        status.value: _sql(f'{json.dumps(status.value)},"category":{json.dumps(status.category)}')
        for status in JobStatus
    }
    unknown = func.format(_sql('%s,"category":null'), cast(func.to_json(jobs.c.status), Text))
    return case(both, value=jobs.c.status, else_=unknown)
