"""The worker loop: the same code drains a queue in tests (burst) and serves forever."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Sequence

from jobline.domain.work import Claim
from jobline.worker.runner import Runner
from jobline.worker.source import WorkSource

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0  # how long an idle slot waits when no wake-up comes


class Worker:
    """Runs inputs from ``source`` in ``slots`` threads, each with its own loaded models."""

    def __init__(
        self,
        source: WorkSource,
        *,
        slots: int = 1,
        models: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        self.source = source
        self.slots = slots
        self.models = list(models) if models is not None else None
        self.name = name or f"{socket.gethostname()}:embedded"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def run_one(self, runner: Runner, slot: int = 0) -> bool:
        """Claim and run one input; False when the queue had nothing for this worker."""
        claims = self.source.claim(f"{self.name}/{slot}", self.models, 1)
        for claim in claims:
            self._run(runner, claim)
        return bool(claims)

    def run_burst(self) -> int:
        """Run queued inputs until none is left, in this thread; returns how many ran."""
        runner = Runner()
        count = 0
        while self.run_one(runner):
            count += 1
        return count

    def start(self) -> None:
        """Serve in background threads until ``stop``."""
        for slot in range(self.slots):
            thread = threading.Thread(
                target=self._serve, args=(slot,), name=f"jobline-worker-{slot}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, and wait up to ``timeout`` seconds for running inputs to end."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _serve(self, slot: int) -> None:
        runner = Runner()
        while not self._stop.is_set():
            try:
                if not self.run_one(runner, slot):
                    self.source.wait_for_work(IDLE_POLL_SECONDS)
            except Exception:
                # A database hiccup must not kill the slot: log it, back off, go on.
                log.exception("worker slot %d failed; retrying", slot)
                self._stop.wait(IDLE_POLL_SECONDS)

    def _run(self, runner: Runner, claim: Claim) -> None:
        parts = {name: self.source.read_part(key) for name, key in claim.parts.items()}
        outcome = runner.run(claim, parts)
        if not self.source.complete(claim, outcome):
            log.warning("lease on input %s was lost; its result was dropped", claim.input_id)
