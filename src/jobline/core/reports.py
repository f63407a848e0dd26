"""Reports over the history: stats per group, and the whole history as an export.

Both take the history's filters and its visibility, so a report never shows a job the caller
could not find in its history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from sqlalchemy import Connection

from jobline.core.auth import require_user_key
from jobline.domain.cursor import Cursor
from jobline.domain.history import HistoryQuery
from jobline.domain.records import Job, JobRow, Principal
from jobline.domain.stats import Stats, StatsQuery
from jobline.store import Store
from jobline.store import export as export_store
from jobline.store import history as history_store
from jobline.store import stats as stats_store

EXPORT_PAGE_SIZE = 5000  # jobs per keyset page (and per read transaction) of an export
EXPORT_PAGES_AHEAD = 2  # pages whose lines PostgreSQL writes at once, one connection each
# The threads that have pages written, shared by every export of the process: however many
# exports stream at once, they hold EXPORT_PAGES_AHEAD pooled connections between them.
_WRITERS = ThreadPoolExecutor(EXPORT_PAGES_AHEAD, thread_name_prefix="jobline-export")

T = TypeVar("T")


def stats(store: Store, principal: Principal, query: StatsQuery) -> Stats:
    """The figures of every group of the jobs ``principal`` may see that match ``query``."""
    require_user_key(principal)
    with store.read() as conn:
        return stats_store.stats(conn, query, principal)


def export(store: Store, principal: Principal, query: HistoryQuery) -> Iterator[Job]:
    """Every job ``principal`` may see that matches ``query``, in its order, ignoring its page.

    The caller is checked now, before the first job is asked for. The jobs then come from a
    keyset walk of :data:`EXPORT_PAGE_SIZE` jobs a page, each page read in its own short
    transaction, so an export of millions of jobs holds one page in memory and never keeps a
    transaction open while the consumer is slow.
    """
    require_user_key(principal)
    return _walk(store, principal, _whole(query), _job_page)


def export_rows(store: Store, principal: Principal, query: HistoryQuery) -> Iterator[JobRow]:
    """The jobs of :func:`export`, as the plain rows a bulk export renders fastest."""
    require_user_key(principal)
    return _walk(store, principal, _whole(query), export_store.export_page)


def export_lines(store: Store, principal: Principal, query: HistoryQuery) -> Iterator[str] | None:
    """The jobs of :func:`export`, each as its history job object's JSON text, written by the
    database (:func:`jobline.store.export.job_json`); None where the database does not write
    them (SQLite): render :func:`export_rows` there."""
    require_user_key(principal)
    if store.engine.dialect.name != "postgresql":
        return None
    return _lines(store, principal, _whole(query))


def _lines(store: Store, principal: Principal, query: HistoryQuery) -> Iterator[str]:
    """The lines of every page of ``query``, :data:`EXPORT_PAGES_AHEAD` pages written at once.

    Writing the JSON is the database's work (~10 us a job, on one core per connection), so
    this thread finds where each page ends (an index walk, no JSON), hands the page to one
    of the ``_WRITERS``, which has it written on a connection of its own, in its own short
    transaction, and yields the pages in order: at most ``EXPORT_PAGES_AHEAD + 1`` pages are
    held at once.
    """

    def written(page: HistoryQuery, through: Cursor | None) -> list[str]:
        with store.read() as conn:
            return export_store.export_lines(conn, page, principal, through)

    pending: deque[Future[list[str]]] = deque()
    try:
        while True:
            with store.read() as conn:
                through = export_store.page_end(conn, query, principal)
            pending.append(_WRITERS.submit(written, query, through))
            if through is None:
                break
            query = replace(query, cursor=through)
            if len(pending) > EXPORT_PAGES_AHEAD:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        for page in pending:
            page.cancel()  # a consumer that stops early: no page more


def _whole(query: HistoryQuery) -> HistoryQuery:
    return replace(
        query,
        page=None,
        cursor=None,
        with_total=False,
        per_page=EXPORT_PAGE_SIZE,
        max_per_page=EXPORT_PAGE_SIZE,
    )


def _job_page(
    conn: Connection, query: HistoryQuery, principal: Principal
) -> tuple[Sequence[Job], str | None]:
    page = history_store.page(conn, query, principal)
    return page.jobs, page.next_cursor


def _walk(
    store: Store,
    principal: Principal,
    query: HistoryQuery,
    read: Callable[[Connection, HistoryQuery, Principal], tuple[Sequence[T], str | None]],
) -> Iterator[T]:
    while True:
        with store.read() as conn:
            found, next_cursor = read(conn, query, principal)
        yield from found
        if next_cursor is None:
            return
        query = replace(query, cursor=Cursor.decode(next_cursor))
