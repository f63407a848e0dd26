"""Database engines: SQLite (embedded, WAL) and PostgreSQL (psycopg 3), configured alike."""

from __future__ import annotations

import select
import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Make ``postgresql://`` URLs use psycopg 3, the only PostgreSQL driver jobline ships."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, generic_plans: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    PostgreSQL: statements are prepared (psycopg's default: from their fifth run on a
    connection), which saves parsing each one, and each row of an executemany. Without
    ``generic_plans`` they are still planned for the values they carry, every time: a history
    query's best plan depends on whose jobs it reads (a generic plan assumes an average user,
    and a heavy user's page then takes 10x longer). With it, PostgreSQL plans a statement once
    where a generic plan is as good: for the queue's statements, whose best plan is the same
    for any values, planning costs more than running them. Short OLTP queries never gain from
    JIT compilation, which can cost more than they do.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    plans = "" if generic_plans else " -c plan_cache_mode=force_custom_plan"
    connect_args = {"options": "-c jit=off" + plans}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "checkout", _postgres_alive)
    return engine


def _postgres_alive(dbapi_conn: Any, _record: object, _proxy: object) -> None:
    # Instead of pool_pre_ping's round trip per transaction: an idle pooled connection has
    # nothing to read unless the server closed it (a restart sends its goodbye first), so a
    # readable socket means a dead connection, and the pool connects afresh. A connection cut
    # without a word fails at its first statement instead: the pool then drops every
    # connection, and the caller's ServiceUnavailable retry gets a new one.
    poller = select.poll()
    try:
        poller.register(dbapi_conn.fileno(), select.POLLIN)
    except Exception as exc:  # the driver already knows the connection is closed
        raise DisconnectionError("this pooled connection is closed") from exc
    if poller.poll(0):
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (see the "begin" hook).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Write transactions take the write lock at BEGIN, so two writers queue up on the busy
    # timeout instead of one failing to upgrade its read lock half way ("database is locked").
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
