"""Persistence: the database (SQLAlchemy Core) and the blob store, behind one ``Store``."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from jobline.errors import ServiceUnavailable
from jobline.store import notify
from jobline.store.blobs import BlobStore
from jobline.store.engine import make_engine


class Store:
    """The database engine and the blob store of one jobline installation.

    Callbacks registered with ``on_work`` run whenever inputs are queued, so a worker wakes at
    once instead of on its next poll: in this process directly, and on PostgreSQL in every
    process sharing the database (LISTEN/NOTIFY).
    """

    def __init__(self, engine: Engine, blobs: BlobStore, work_engine: Engine | None = None) -> None:
        self.engine = engine
        # The queue's transactions (``write(plan_once=True)``): on PostgreSQL an engine whose
        # statements are planned once (see ``make_engine``); otherwise the same engine.
        self._work_engine = work_engine or engine
        self.blobs = blobs
        self._work_listeners: list[Callable[[], None]] = []
        self._listener: notify.Listener | None = None
        self._postgres = engine.dialect.name == "postgresql"
        self._sender = secrets.token_hex(8)  # names this store's own NOTIFYs to its listener

    def on_work(self, listener: Callable[[], None]) -> None:
        self._work_listeners.append(listener)
        if self._postgres and self._listener is None:
            self._listener = notify.Listener(self.engine, self._wake, self._sender)

    def announce_work(self, conn: Connection) -> None:
        """In the write transaction ``conn`` that queues work: the other processes hear of it
        when that commits, without a transaction of its own. Call ``work_queued(announced=True)``
        after the commit."""
        if self._postgres:
            notify.announce_in(conn, self._sender)

    def work_queued(self, *, announced: bool = False) -> None:
        """Wake this process's workers and, unless ``announce_work`` told them already, those
        of every process sharing the database."""
        self._wake()
        if self._postgres and not announced:
            try:
                notify.announce(self.engine, self._sender)
            except OperationalError:
                pass  # the work is stored; other processes find it on their next poll

    def _wake(self) -> None:
        for listener in self._work_listeners:
            listener()

    @classmethod
    def open(cls, database_url: str, blob_dir: Path) -> Store:
        engine = make_engine(database_url)
        work_engine = None
        if engine.dialect.name == "postgresql":
            work_engine = make_engine(database_url, generic_plans=True)
        return cls(engine, BlobStore(blob_dir), work_engine)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads, in one transaction."""
        with _translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, plan_once: bool = False) -> Iterator[Connection]:
        """A write transaction; on SQLite it holds the write lock from its first statement.
        ``plan_once``: the queue's statements, planned once on PostgreSQL (see ``make_engine``)."""
        engine = self._work_engine if plan_once else self.engine
        with _translated(), engine.connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.engine.dispose()
        self._work_engine.dispose()


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise ServiceUnavailable(f"the database did not answer: {exc.orig}") from exc
