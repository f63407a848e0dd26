"""Which index a history page walks on SQLite, chosen from the data rather than by its planner.

SQLite here is built without per-value statistics (``SQLITE_ENABLE_STAT4``): to its planner
every user owns the average number of jobs and every status is as common as any other. So a
member who owns 13 % of a million jobs gets the plan of an average one (read all 133,000 of
its rows through ``(user_id, submitted_at, id)`` and sort them: 140 ms), and a filter on
PENDING, 0.004 % of the jobs, is not seen to be narrow.

PostgreSQL keeps per-value statistics and plans each history query for its values (custom
plans, see ``store.engine``), so it is left to its own planner.

The rule, for a page whose WHERE clause has narrowing conditions (on a scope column, a status,
a time window): count, with a bounded index-only read, how many jobs each one leaves, up to
``SORT_LIMIT``.

- If the page is in submission order and one user, account, key or model leaves fewer, walk
  that scope's own index, which is in the page's order: at most ``SORT_LIMIT`` rows, usually
  one page.
- Otherwise, if a condition leaves fewer, read the jobs through its index and sort them: at
  most ``SORT_LIMIT`` rows, a few milliseconds.
- Otherwise walk an index that is already in the page's order and stop after one page: that
  scope's own index when there is one, else the sort key's index. The sort keys' indexes carry
  ``user_id`` and ``account_id`` (``tables.SCOPE_COLUMNS``), so a member's or an account's
  walk skips other people's entries without reading their rows; a scope of at least
  ``SORT_LIMIT`` jobs has a matching entry every ``N / SORT_LIMIT``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BinaryExpression,
    ColumnElement,
    Connection,
    Select,
    Table,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler

from jobline.store.tables import jobs, sort_index_name

SORT_LIMIT = 5_000  # rows: fewer are read and sorted, more are walked in order

# Columns with an index that reads the jobs matching a condition on them, and whether that
# index is in submission order for one value of the column.
_NARROWING: dict[str, tuple[str, bool]] = {
    "user_id": ("ix_jobs_user_id_submitted_at_id", True),
    "account_id": ("ix_jobs_account_id_submitted_at_id", True),
    "key_prefix": ("ix_jobs_key_prefix_submitted_at_id", True),
    "model_id": ("ix_jobs_model_id_submitted_at_id", True),
    **{
        column: (sort_index_name(column), False)
        for column in ("status", "submitted_at", "created_at", "updated_at", "finished_at")
    },
}
_SINGLE_VALUE = (operators.eq, operators.in_op)


def indexed(conn: Connection, where: list[ColumnElement[bool]], sort_key: str) -> str | None:
    """The ``INDEXED BY`` (or ``NOT INDEXED``) clause for a page of ``where`` in ``sort_key``
    order (a jobs column name), or None to leave the plan to SQLite. (Not for a list of job
    ids: their primary key and unique lookups beat any of these.)"""
    narrowing: dict[str, list[ColumnElement[bool]]] = {}
    for term in where:
        column = _column_of(term)
        if column in _NARROWING:
            narrowing.setdefault(column, []).append(term)
    if not narrowing:
        return None
    counts = {column: _count(conn, column, terms) for column, terms in narrowing.items()}
    in_order = [
        column
        for column, terms in narrowing.items()
        if _NARROWING[column][1] and sort_key == "submitted_at" and _one_value(terms)
    ]
    fewest = min(counts, key=counts.__getitem__)
    small_in_order = [column for column in in_order if counts[column] < SORT_LIMIT]
    if small_in_order:
        return f"INDEXED BY {_NARROWING[small_in_order[0]][0]}"
    if counts[fewest] < SORT_LIMIT:
        return f"INDEXED BY {_NARROWING[fewest][0]}"
    if in_order:
        return f"INDEXED BY {_NARROWING[in_order[0]][0]}"
    if sort_key == "id":
        return "NOT INDEXED"  # the table itself is in serial order
    if sort_key == "identifier":
        return None  # its unique constraint's index has no name to give
    return f"INDEXED BY {sort_index_name(sort_key)}"


def _column_of(term: ColumnElement[bool]) -> str | None:
    """The jobs column ``term`` compares with a value, if it is that simple."""
    if isinstance(term, BinaryExpression) and getattr(term.left, "table", None) is jobs:
        name: str = term.left.name
        return name
    return None


def _one_value(terms: list[ColumnElement[bool]]) -> bool:
    """Whether ``terms`` (on one column) hold it to a single value."""
    term = terms[0]
    if len(terms) > 1 or not isinstance(term, BinaryExpression):
        return False
    if term.operator not in _SINGLE_VALUE:
        return False
    values = getattr(term.right, "value", None)
    return term.operator is operators.eq or (isinstance(values, list) and len(values) == 1)


def _count(conn: Connection, column: str, terms: list[ColumnElement[bool]]) -> int:
    """How many jobs ``terms`` (all on ``column``) leave, counted up to ``SORT_LIMIT``."""
    matching: Select[Any] = select(literal_column("1")).select_from(jobs).where(*terms)
    matching = with_index(matching.limit(SORT_LIMIT), f"INDEXED BY {_NARROWING[column][0]}")
    counted: int = conn.execute(select(func.count()).select_from(matching.subquery())).scalar_one()
    return counted


def with_index(statement: Select[Any], clause: str | None) -> Select[Any]:
    """``statement`` reading ``jobs`` through the index ``clause`` names (SQLite only)."""
    return statement if clause is None else statement.with_hint(jobs, clause, "sqlite")


@compiles(Table, "sqlite")
def _table_with_hint(table: Table, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy renders FROM hints only for dialects that have them (MySQL, MSSQL, Oracle);
    # SQLite's are INDEXED BY and NOT INDEXED, written right after the table's name.
    rendered: str = compiler.visit_table(table, **kw)  # type: ignore[no-untyped-call]
    hint = (kw.get("fromhints") or {}).get(table)
    return f"{rendered} {hint}" if hint and kw.get("asfrom") else rendered
