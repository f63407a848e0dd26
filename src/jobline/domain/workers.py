"""Workers as the registry knows them: who runs inputs, where, for which models, and whether
they still do.

Every worker, embedded or remote, reports itself at least every ``PRESENCE_SECONDS`` (more
often while it runs inputs, since its heartbeats carry the same report); one that has not been
heard from for three such intervals is taken for gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PRESENCE_SECONDS = 10.0  # an idle worker reports itself this often
ALIVE_WITHIN = timedelta(seconds=3 * PRESENCE_SECONDS)  # heard from this recently: alive


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What a worker says about itself with each heartbeat (and each remote claim)."""

    name: str  # unique per worker process; leases are held by this name
    host: str
    pid: int
    models: tuple[str, ...] | None  # None: every model
    slots: int  # inputs it runs at the same time
    busy: int  # of those slots, how many run an input now


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A registered worker, as last reported."""

    name: str
    host: str
    pid: int
    models: tuple[str, ...] | None
    slots: int
    busy: int
    key_prefix: str  # the access key it works with; "" for a server's embedded worker
    started_at: datetime
    last_heartbeat: datetime

    def alive(self, at: datetime) -> bool:
        """Whether the worker reported itself recently enough, seen from ``at``."""
        return at - self.last_heartbeat <= ALIVE_WITHIN


@dataclass(frozen=True, slots=True)
class Lease:
    """Which claim a remote worker reports on: enough to find it and to check it is still its."""

    input_id: int
    job_id: int
    job_identifier: str
    owner: str
