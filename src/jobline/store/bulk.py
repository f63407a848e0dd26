"""Statements over many rows at once that cost the same whatever the number of rows.

On PostgreSQL a list of ids is one array parameter (``= ANY``) and a batch of row changes is
one statement over arrays (``unnest``), so each statement's text is the same for 1 or 1 000
rows: the driver converts it once, and the server prepares and plans it once. (An expanded
``IN (...)`` or an executemany is a new text, or a new execution, for every size or row.)
SQLite gets the plain forms, which cost it nothing extra.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import JSON, TypeEngine


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


def update_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "id",
    same: Mapping[str, Any] | None = None,
) -> None:
    """Set each row's columns (its mapping, the ``key`` column naming the row) and the columns
    of ``same`` on all of them. Every mapping has the same names."""
    if not rows:
        return
    names = [name for name in rows[0] if name != key]
    same = dict(same or {})
    if conn.dialect.name != "postgresql":
        statement = _update_by_key(table, key, tuple(names), tuple(same))
        conn.execute(statement, [_renamed(row, key) | _renamed_same(same) for row in rows])
        return
    statement = _update_over_arrays(table, key, tuple(names), tuple(same))
    conn.execute(statement, _arrays(table, rows, [key, *names]) | _renamed_same(same))


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (mappings with the same names) in one statement."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    conn.execute(_insert_over_arrays(table, tuple(names)), _arrays(table, rows, names))


# The statements are built once per table and set of columns: they are the queue's most
# frequent, and building one costs more than running it.


@cache
def _update_by_key(table: Table, key: str, names: tuple[str, ...], same: tuple[str, ...]) -> Update:
    values = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in names}
    values |= {name: bindparam(f"same_{name}", type_=table.c[name].type) for name in same}
    return update(table).where(table.c[key] == bindparam("row_key")).values(values)


@cache
def _update_over_arrays(
    table: Table, key: str, names: tuple[str, ...], same: tuple[str, ...]
) -> Update:
    changes = _unnest(table, [key, *names])
    values = {name: _cast(table, name, changes.c[name]) for name in names}
    values |= {name: bindparam(f"same_{name}", type_=table.c[name].type) for name in same}
    return update(table).where(table.c[key] == changes.c[key]).values(values)


@cache
def _insert_over_arrays(table: Table, names: tuple[str, ...]) -> Insert:
    changes = _unnest(table, list(names))
    picked = select(*(_cast(table, name, changes.c[name]) for name in names))
    return insert(table).from_select(list(names), picked)


def _renamed(row: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {("row_key" if name == key else f"new_{name}"): value for name, value in row.items()}


def _renamed_same(same: Mapping[str, Any]) -> dict[str, Any]:
    return {f"same_{name}": value for name, value in same.items()}


def _unnest(table: Table, names: list[str]) -> Any:
    """``unnest`` of one array parameter per column (``rows_<name>``): the rows as a table
    named ``changes``."""
    kinds = {name: _element_type(table.c[name].type) for name in names}
    return (
        func.unnest(*(bindparam(f"rows_{name}", type_=ARRAY(kind)) for name, kind in kinds.items()))
        .table_valued(*(column(name, kinds[name]) for name in names))
        .render_derived(name="changes")
    )


def _arrays(table: Table, rows: Sequence[Mapping[str, Any]], names: list[str]) -> dict[str, Any]:
    """The parameters of ``_unnest``: one list of values per column."""
    return {f"rows_{name}": _column(table, rows, name) for name in names}


def _element_type(kind: TypeEngine[Any]) -> TypeEngine[Any]:
    # JSON travels as text: in an array, a JSON list would be taken for a nested array.
    return Text() if isinstance(kind, JSON) else kind


def _column(table: Table, rows: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    values = [row[name] for row in rows]
    return [json.dumps(v) for v in values] if isinstance(table.c[name].type, JSON) else values


def _cast(table: Table, name: str, value: ColumnClause[Any]) -> ColumnElement[Any]:
    if isinstance(table.c[name].type, JSON):
        return value.cast(JSONB)
    return value
