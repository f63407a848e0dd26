"""Where a worker gets work: the ``WorkSource`` seam and its in-process implementation.

Remote workers talk to a server over HTTP through another implementation of the same protocol
(:mod:`jobline.worker.http`); the worker loop does not know which one it has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from jobline.core import work, workers
from jobline.domain.work import Claim, Outcome
from jobline.domain.workers import WorkerInfo
from jobline.store import Store

HOUSEKEEPING_SECONDS = 0.5  # how often an embedded worker requeues expired leases and the like


class WorkSource(Protocol):
    def claim(self, worker: WorkerInfo, limit: int) -> list[Claim]:
        """Lease up to ``limit`` queued inputs of the worker's models; an empty list when there
        is none."""

    def read_part(self, blob_key: str) -> bytes:
        """The bytes of one input part."""

    def complete(self, done: Sequence[tuple[Claim, Outcome]]) -> list[bool]:
        """Report how inputs ended, all at once; False for each whose lease was lost."""

    def heartbeat(
        self, worker: WorkerInfo, input_ids: Sequence[int], started: Sequence[int] = ()
    ) -> list[int]:
        """Report the worker alive (in the registry), renew the leases of the inputs it holds
        and mark those it has begun since the last beat (``started``) RUNNING; returns those
        to stop (job ended, lease lost)."""

    def on_work(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from any thread) whenever new work may have arrived."""


class LocalWorkSource:
    """The embedded worker's source: calls the core directly, hears local submissions.

    Housekeeping (jobs past their deadline, expired leases, collect steps never run) is done
    every ``HOUSEKEEPING_SECONDS`` with a claim or a heartbeat, not with every claim: it is
    a few queries that find nothing almost always, and would otherwise be paid per batch.
    """

    def __init__(self, store: Store, *, lease_seconds: float = work.LEASE_SECONDS) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self._housekept_at = -HOUSEKEEPING_SECONDS  # so the first claim does it

    def claim(self, worker: WorkerInfo, limit: int) -> list[Claim]:
        return work.claim(
            self.store,
            worker.name,
            models=worker.models,
            limit=limit,
            lease_seconds=self.lease_seconds,
            housekeep=self._due(),
        )

    def read_part(self, blob_key: str) -> bytes:
        return work.read_part(self.store, blob_key)

    def complete(self, done: Sequence[tuple[Claim, Outcome]]) -> list[bool]:
        return work.complete(self.store, done)

    def heartbeat(
        self, worker: WorkerInfo, input_ids: Sequence[int], started: Sequence[int] = ()
    ) -> list[int]:
        if self._due():
            work.housekeep(self.store)
        return workers.heartbeat(
            self.store, worker, input_ids, started, lease_seconds=self.lease_seconds
        )

    def on_work(self, listener: Callable[[], None]) -> None:
        self.store.on_work(listener)

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._housekept_at < HOUSEKEEPING_SECONDS:
            return False
        self._housekept_at = now
        return True
