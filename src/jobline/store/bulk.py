"""Statements over many rows at once that cost the same whatever the number of rows.

On PostgreSQL a list of ids is one array parameter (``= ANY``) and a batch of row changes is
one statement over one JSON parameter holding all the rows (``jsonb_to_recordset``), so each
statement's text is the same for 1 or 1 000 rows: the server prepares and plans it once. (An
expanded ``IN (...)`` or an executemany is a new text, or a new execution, for every size or
row; one array per column costs the driver a conversion of every value, which took more time
than the statement.) SQLite gets the plain forms, which cost it nothing extra.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.dml import Insert, Update


def among(conn: Connection, key: ColumnElement[Any], ids: Sequence[int]) -> ColumnElement[bool]:
    """``key IN ids``; on PostgreSQL ``key = ANY(:ids)``, one parameter for any count."""
    if conn.dialect.name == "postgresql":
        return key == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger())))
    return key.in_(list(ids))


def any_of(dialect: str, key: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``key IN :name`` in a statement built once for ``dialect`` and run many times with a
    list of ids as parameter ``name``: on PostgreSQL ``key = ANY(:name)``, elsewhere an
    expanding ``IN``."""
    if dialect == "postgresql":
        return key == any_(bindparam(name, type_=ARRAY(BigInteger())))
    return key.in_(bindparam(name, expanding=True))


def fixed(value: Any) -> Any:
    """``value`` written into the text of a statement built once, not passed as a parameter.

    PostgreSQL plans such a statement once for any parameters (``Store.write(plan_once=True)``)
    and can then use a partial index only where the statement's text implies the index's
    condition: ``status = 'QUEUED'`` does, ``status = $1`` does not (``$1`` could be anything).
    """
    return literal(value, literal_execute=True)


def update_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "id",
    same: Mapping[str, Any] | None = None,
) -> None:
    """Set each row's columns (its mapping, the ``key`` column, of integers, naming the row)
    and the columns of ``same`` on all of them. Every mapping has the same names."""
    if not rows:
        return
    names = [name for name in rows[0] if name != key]
    same = dict(same or {})
    renamed_same = {f"same_{name}": value for name, value in same.items()}
    if conn.dialect.name != "postgresql":
        statement = _update_by_key(table, key, tuple(names), tuple(same))
        conn.execute(statement, [_renamed(row, key) | renamed_same for row in rows])
        return
    statement = _update_over_json(table, key, tuple(names), tuple(same))
    keys = [row[key] for row in rows]
    conn.execute(statement, {"rows": _json(rows), "keys": keys} | renamed_same)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (mappings with the same names) in one statement."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    conn.execute(_insert_over_json(table, tuple(rows[0])), {"rows": _json(rows)})


# The statements are built once per table and set of columns: they are the queue's most
# frequent, and building one costs more than running it.


@cache
def _update_by_key(table: Table, key: str, names: tuple[str, ...], same: tuple[str, ...]) -> Update:
    values = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in names}
    values |= {name: bindparam(f"same_{name}", type_=table.c[name].type) for name in same}
    return update(table).where(table.c[key] == bindparam("row_key")).values(values)


@cache
def _update_over_json(
    table: Table, key: str, names: tuple[str, ...], same: tuple[str, ...]
) -> Update:
    changes = _recordset(table, (key, *names))
    values: dict[str, Any] = {name: changes.c[name] for name in names}
    values |= {name: bindparam(f"same_{name}", type_=table.c[name].type) for name in same}
    # The keys again, as an array: the planner cannot see how many rows the JSON holds (it
    # assumes 100) and, on a table of some thousands of rows, would read the whole table.
    by_key = any_of("postgresql", table.c[key], "keys")
    return update(table).where(table.c[key] == changes.c[key], by_key).values(values)


@cache
def _insert_over_json(table: Table, names: tuple[str, ...]) -> Insert:
    changes = _recordset(table, names)
    return insert(table).from_select(list(names), select(*(changes.c[name] for name in names)))


def _recordset(table: Table, names: tuple[str, ...]) -> Any:
    """The rows of the JSON parameter ``rows`` (a list of objects), their fields typed as the
    table's columns of those names, as a table named ``changes``."""
    rows = cast(bindparam("rows", type_=Text()), JSONB)
    return (
        func.jsonb_to_recordset(rows)
        .table_valued(*(column(name, table.c[name].type) for name in names))
        .render_derived(name="changes", with_types=True)
    )


def _renamed(row: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {("row_key" if name == key else f"new_{name}"): value for name, value in row.items()}


def _json(rows: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps(rows, default=_json_value, separators=(",", ":"), allow_nan=False)


def _json_value(value: object) -> str:
    """Times as ISO 8601 text with their offset, which PostgreSQL reads back exactly."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a value the store keeps")
