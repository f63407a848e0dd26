"""Wake-ups across processes on PostgreSQL: NOTIFY when work is queued, LISTEN for it.

Several server nodes share one database; work queued on one node wakes the workers (embedded,
or long-polling remote ones) of every node within milliseconds instead of on their next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, Engine, String, bindparam, func, select

log = logging.getLogger(__name__)

CHANNEL = "jobline_work"
CHECK_SECONDS = 1.0  # how often the listening thread looks up from the socket to see if it stops


def announce(engine: Engine, sender: str = "") -> None:
    """Tell every listening process that work was queued; ``sender`` names who queued it, so
    that its own ``Listener`` (which was told directly) does not wake it a second time."""
    with engine.connect() as conn:
        announce_in(conn, sender)
        conn.commit()


def announce_in(conn: Connection, sender: str = "") -> None:
    """``announce`` as part of the transaction ``conn``: PostgreSQL delivers it at the commit
    (after the work it announces is visible), and not at all if the transaction rolls back."""
    conn.execute(_NOTIFY, {"sender": sender})


_NOTIFY = select(func.pg_notify(CHANNEL, bindparam("sender", type_=String())))


class Listener:
    """A thread holding one connection that LISTENs, calling ``heard`` on each notification
    (and after each reconnection, since a notification may have been missed meanwhile).
    Notifications announced by ``sender`` itself are ignored."""

    def __init__(self, engine: Engine, heard: Callable[[], None], sender: str = "") -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._heard = heard
        self._sender = sender
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobline-listen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(CHECK_SECONDS * 3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._heard()
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=CHECK_SECONDS):
                            if not self._sender or notice.payload != self._sender:
                                self._heard()
            except psycopg.Error as exc:
                # The database restarts or is unreachable: the workers' polling covers the
                # gap; try again shortly.
                log.warning("listening for work failed (%s); retrying", exc)
                self._stop.wait(CHECK_SECONDS)
