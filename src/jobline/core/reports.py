"""Reports over the history: stats per group, and the whole history as an export.

Both take the history's filters and its visibility, so a report never shows a job the caller
could not find in its history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from jobline.core.auth import require_user_key
from jobline.domain.cursor import Cursor
from jobline.domain.history import HistoryQuery
from jobline.domain.records import Job, Principal
from jobline.domain.stats import Stats, StatsQuery
from jobline.store import Store
from jobline.store import history as history_store
from jobline.store import stats as stats_store

EXPORT_PAGE_SIZE = 1000  # jobs per keyset page (and per read transaction) of an export


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
    first = replace(
        query,
        page=None,
        cursor=None,
        with_total=False,
        per_page=EXPORT_PAGE_SIZE,
        max_per_page=EXPORT_PAGE_SIZE,
    )
    return _walk(store, principal, first)


def _walk(store: Store, principal: Principal, query: HistoryQuery) -> Iterator[Job]:
    while True:
        with store.read() as conn:
            page = history_store.page(conn, query, principal)
        yield from page.jobs
        if page.next_cursor is None:
            return
        query = replace(query, cursor=Cursor.decode(page.next_cursor))
