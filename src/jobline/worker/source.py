"""Where a worker gets work: the ``WorkSource`` seam and its in-process implementation.

Remote workers will talk to the server over HTTP through another implementation of the same
protocol; the worker loop does not know which one it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from jobline.core import work
from jobline.domain.work import Claim, Outcome
from jobline.store import Store


class WorkSource(Protocol):
    def claim(self, worker: str, models: Sequence[str] | None, limit: int) -> list[Claim]:
        """Lease up to ``limit`` queued inputs; an empty list when there is none."""

    def read_part(self, blob_key: str) -> bytes:
        """The bytes of one input part."""

    def complete(self, claim: Claim, outcome: Outcome) -> bool:
        """Report how an input ended; False when the lease was lost."""

    def wait_for_work(self, timeout: float) -> None:
        """Block until work may have arrived, or ``timeout`` seconds passed."""


class LocalWorkSource:
    """The embedded worker's source: calls the core directly, wakes on local submissions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def claim(self, worker: str, models: Sequence[str] | None, limit: int) -> list[Claim]:
        return work.claim(self.store, worker, models=models, limit=limit)

    def read_part(self, blob_key: str) -> bytes:
        return work.read_part(self.store, blob_key)

    def complete(self, claim: Claim, outcome: Outcome) -> bool:
        return work.complete(self.store, claim, outcome)

    def wait_for_work(self, timeout: float) -> None:
        if self.store.work_arrived.wait(timeout):
            self.store.work_arrived.clear()
