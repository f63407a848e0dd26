"""The worker loop: the same code drains a queue in tests (burst) and serves forever.

One coordinating thread talks to the ``WorkSource``; ``slots`` threads run model code. The
coordinator claims as many inputs as there are free places (slots plus a small prefetch) in
one transaction, and reports every outcome that has finished since its last report in one
transaction. Under load, claims and reports batch up by themselves (a group commit); when idle,
one input costs two short transactions and starts as soon as it is queued.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from jobline.domain.status import InputStatus
from jobline.domain.work import Claim, Outcome
from jobline.domain.workers import PRESENCE_SECONDS, WorkerInfo
from jobline.errors import ServiceUnavailable
from jobline.worker.runner import Runner
from jobline.worker.source import WorkSource

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0  # an idle worker looks for work this often even without a wake-up
# While inputs run, the worker renews their leases and learns of cancellations this often.
HEARTBEAT_SECONDS = 0.5
# Each slot holds about this much work claimed ahead, so slots never wait for a claim and
# fast inputs are claimed in batches; slow inputs are claimed one ahead, not hoarded.
PREFETCH_SECONDS = 0.05
MAX_PREFETCH_PER_SLOT = 64
# Inputs this fast (by the running average) cross to a slot's child process together, up to
# MAX_BATCH at a time, so that a batch takes about BATCH_SECONDS.
BATCH_SECONDS = 0.01
MAX_BATCH = 64
ABANDON_SECONDS = 5.0  # after the stop's grace: how long killing what still runs may take


class Worker:
    """Runs inputs from ``source`` on ``slots`` threads, each with its own loaded models."""

    def __init__(
        self,
        source: WorkSource,
        *,
        slots: int = 1,
        models: Sequence[str] | None = None,
        name: str | None = None,
        memory_limit_mib: int | None = None,
    ) -> None:
        self.source = source
        self.slots = slots
        self.memory_limit_mib = memory_limit_mib  # per input (its child process); None: none
        self.models = list(models) if models is not None else None
        # Unique per process: leases are held by name, and two workers must never share one.
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.host = socket.gethostname()
        self._finished: queue.SimpleQueue[tuple[Claim, Outcome]] = queue.SimpleQueue()
        # The input each slot's model process runs now (slot thread -> input id): RUNNING
        # from the next heartbeat. A batch crosses to the process at once, but its inputs run
        # one after the other; one that began and ended between two beats goes from QUEUED to
        # its end in one step.
        self._now_running: dict[int, int] = {}
        self._wake = threading.Event()  # something happened: an input ended or work arrived
        self._work_hint = threading.Event()  # new work may be queued
        self._stop = threading.Event()
        self._abandon = threading.Event()  # the stop's grace is over: drop what still runs
        self._local = threading.local()
        self._thread: threading.Thread | None = None
        self._run_seconds = PREFETCH_SECONDS  # running average of an input's run time
        self._runners: list[Runner] = []
        self._runners_lock = threading.Lock()
        source.on_work(self._work_arrived)

    def run_burst(self) -> int:
        """Run queued inputs until none is left; returns how many ran."""
        return self._coordinate(burst=True)

    def start(self) -> None:
        """Serve in background threads until ``stop``."""
        self._stop.clear()
        self._abandon.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"jobline-worker-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, finish and report what is running (waiting up to ``timeout``).

        What still runs after ``timeout`` is killed and not reported: its leases expire and
        the inputs run again, on this worker's next start or on another worker.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._abandon.set()
                self._wake.set()
                self._thread.join(ABANDON_SECONDS)
            self._thread = None

    def _work_arrived(self) -> None:
        self._work_hint.set()
        self._wake.set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self._coordinate(burst=False)
            except Exception:
                # A database hiccup must not kill the worker: log it, back off, go on.
                log.exception("worker %s failed; retrying", self.name)
                self._stop.wait(IDLE_POLL_SECONDS)

    def _coordinate(self, *, burst: bool) -> int:
        ran = 0
        running: dict[int, threading.Event] = {}  # input id -> set to stop it
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        next_presence = 0.0  # report to the registry at once, then when due
        self._work_hint.set()
        try:
            with ThreadPoolExecutor(self.slots, thread_name_prefix="jobline-slot") as pool:
                while True:
                    if self._abandon.is_set():
                        for stop in running.values():
                            stop.set()  # each slot kills its own model process
                        pool.shutdown(cancel_futures=True)  # and inputs not started stay so
                        return ran
                    self._wake.clear()
                    done = self._take_finished()
                    if done:
                        self._report(done)
                        for claim, _ in done:
                            running.pop(claim.input_id, None)
                        ran += len(done)
                    now = time.monotonic()
                    if (running and now >= next_beat) or now >= next_presence:
                        self._heartbeat(running)
                        next_beat = now + HEARTBEAT_SECONDS
                        next_presence = now + PRESENCE_SECONDS
                    claims = self._claim(self._capacity() - len(running), len(running))
                    for batch in self._batches(claims):
                        stops = [running.setdefault(c.input_id, threading.Event()) for c in batch]
                        pool.submit(self._run, batch, stops)
                    if not running and (burst or self._stop.is_set()):
                        return ran
                    if not done and not claims:
                        wait = HEARTBEAT_SECONDS if running else IDLE_POLL_SECONDS
                        if not self._wake.wait(wait) and not running:
                            self._work_hint.set()  # no wake-up for a while: look anyway
        finally:
            with self._runners_lock:
                for runner in self._runners:
                    runner.close()
                self._runners.clear()

    def _heartbeat(self, running: dict[int, threading.Event]) -> None:
        """Report to the registry, keep the leases of the inputs held, report those that the
        slots run now begun, and stop those whose job ended meanwhile."""
        started = sorted(set(self._now_running.copy().values()).intersection(running))
        try:
            stop = self.source.heartbeat(self._info(len(running)), list(running), started)
        except ServiceUnavailable as exc:
            # The database is away: the leases outlast a blip, so beat again on the next round
            # rather than stop beating until every running input has ended.
            log.warning("worker %s could not heartbeat (%s); trying again", self.name, exc)
            return
        for input_id in stop:
            running[input_id].set()

    def _info(self, held: int) -> WorkerInfo:
        models = None if self.models is None else tuple(self.models)
        busy = min(held, self.slots)  # inputs claimed ahead wait for a slot: not busy yet
        return WorkerInfo(self.name, self.host, os.getpid(), models, self.slots, busy)

    def _claim(self, room: int, held: int) -> list[Claim]:
        """Claim up to ``room`` inputs, unless the last claim showed the queue is empty and
        no new work was announced since (a claim is a write transaction: not for nothing)."""
        if room <= 0 or self._stop.is_set() or not self._work_hint.is_set():
            return []
        self._work_hint.clear()
        try:
            claims = self.source.claim(self._info(held), room)
        except ServiceUnavailable as exc:
            log.warning("worker %s could not claim (%s); trying again", self.name, exc)
            self._work_hint.set()  # on the next round, after the usual wait
            return []
        if len(claims) == room:
            self._work_hint.set()  # the queue may hold more
        return claims

    def _capacity(self) -> int:
        ahead = min(MAX_PREFETCH_PER_SLOT, max(1, round(PREFETCH_SECONDS / self._run_seconds)))
        return self.slots * (1 + ahead)

    def _batches(self, claims: list[Claim]) -> list[list[Claim]]:
        """The claims cut into what one slot runs in one go: inputs that take a fraction of
        a millisecond go to the child process many at a time; slower ones one by one."""
        if not claims:
            return []
        fast = max(1, min(MAX_BATCH, round(BATCH_SECONDS / self._run_seconds)))
        size = min(fast, -(-len(claims) // self.slots))  # every free slot gets a share
        return [claims[start : start + size] for start in range(0, len(claims), size)]

    def _take_finished(self) -> list[tuple[Claim, Outcome]]:
        done = []
        while True:
            try:
                done.append(self._finished.get_nowait())
            except queue.Empty:
                return done

    def _report(self, done: list[tuple[Claim, Outcome]]) -> None:
        try:
            reported = self.source.complete(done)
        except ServiceUnavailable:
            for item in done:
                self._finished.put(item)  # reported on the next try: an outage loses no result
            raise
        for _, outcome in done:
            seconds = (outcome.finished_at - outcome.started_at).total_seconds()
            self._run_seconds = 0.8 * self._run_seconds + 0.2 * max(seconds, 1e-6)
        dropped = [claim.input_id for (claim, _), ok in zip(done, reported, strict=True) if not ok]
        if dropped:
            log.warning(
                "results of inputs %s dropped: no longer held (job ended, lease lost)", dropped
            )

    def _run(self, batch: list[Claim], stops: list[threading.Event]) -> None:
        """On a slot thread: run a batch of inputs, handing each outcome to the coordinator
        as soon as it is known."""
        runner: Runner | None = getattr(self._local, "runner", None)
        if runner is None:
            runner = self._local.runner = Runner(self.memory_limit_mib)
            with self._runners_lock:
                self._runners.append(runner)
        tasks = []
        for claim, stop in zip(batch, stops, strict=True):
            try:
                parts = {name: self.source.read_part(key) for name, key in claim.parts.items()}
            except Exception as exc:  # the input fails; the others run
                log.exception("input %s could not be run", claim.input_id)
                self._done(
                    claim, Runner.ended(InputStatus.FAILED, f"could not run the input: {exc}")
                )
                continue
            tasks.append((claim, parts, stop))
        reported: set[int] = set()

        def done(claim: Claim, outcome: Outcome) -> None:
            reported.add(claim.input_id)
            self._done(claim, outcome)

        try:
            runner.run_many(tasks, done, self._begin)
        except Exception as exc:  # what did not end fails; the slot lives on
            log.exception("inputs %s could not be run", [c.input_id for c, _, _ in tasks])
            for claim, _, _ in tasks:
                if claim.input_id not in reported:
                    error = f"could not run the input: {exc}"
                    self._done(claim, Runner.ended(InputStatus.FAILED, error))

    def _begin(self, claim: Claim) -> None:
        """On a slot thread: its model process begins ``claim``."""
        self._now_running[threading.get_ident()] = claim.input_id

    def _done(self, claim: Claim, outcome: Outcome) -> None:
        if self._now_running.get(threading.get_ident()) == claim.input_id:
            del self._now_running[threading.get_ident()]
        self._finished.put((claim, outcome))
        self._wake.set()
