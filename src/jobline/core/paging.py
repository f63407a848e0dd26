"""Paging backwards through a history walked by cursor.

A keyset cursor only leads forward. The page before a cursor page is found by walking the other
way from the same position: the cursor of the current page marks the last job of the previous
page, so the ``per_page`` jobs before that position, read in the reverse order, end where the
previous page's own cursor must point. Nothing is stored between requests, so "Previous" links
stay plain, shareable URLs.
"""

from __future__ import annotations

from dataclasses import replace

from jobline.core import jobs
from jobline.domain.cursor import Cursor
from jobline.domain.history import HistoryQuery
from jobline.domain.records import Principal
from jobline.store import Store


def previous_cursor(store: Store, principal: Principal, query: HistoryQuery) -> str | None:
    """The cursor of the page before the one ``query`` asks for by cursor; None when that
    page is the first one (asked for without a cursor) or ``query`` has no cursor.

    The previous page holds the ``per_page`` jobs just before this page, or the first page
    when fewer come before it; either way no job is skipped going back and forth.
    """
    if query.cursor is None:
        return None
    here = query.cursor
    backwards = replace(
        query,
        descending=not query.descending,
        cursor=Cursor(here.sort, not here.descending, here.value, here.serial),
        page=None,
        with_total=False,
    )
    found = jobs.history(store, principal, backwards)
    if found.next_cursor is None:
        return None
    back = Cursor.decode(found.next_cursor)
    return Cursor(back.sort, query.descending, back.value, back.serial).encode()
