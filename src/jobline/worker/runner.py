"""Running one claimed input in a child process, and turning what happened into an Outcome.

Each worker slot owns one ``Runner`` and through it one long-lived child process (started
from a fork server that has jobline imported, so a new child costs milliseconds). The child
loads each model once and serves many inputs. An input that outlives its timeout, or whose
job is canceled, has its child's whole process group killed; a child that dies is replaced
on the next input. Either way the worker itself lives on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from jobline.domain.status import InputStatus
from jobline.domain.work import Claim, Outcome
from jobline.worker import child, reap

WATCH_SECONDS = 0.05  # how often a running input is checked for cancellation and death
_context = multiprocessing.get_context("forkserver")


def _preload() -> list[str]:
    """What the fork server imports once, for every child: the child's own modules, and the
    jobline modules this process has imported. A new child imports the main module again
    (the `jobline` command imports everything: ~0.8 s a child otherwise); with those already
    imported in the fork server, that costs milliseconds. (Python 3.11's own "__main__"
    preload never takes effect for a script's path.)"""
    imported = sorted(name for name in sys.modules if name.split(".")[0] == "jobline")
    return ["jobline.worker.child", "jobline.models.builtin", *imported]


class Runner:
    """One child process, and the rules for running an input in it."""

    def __init__(self, memory_limit_mib: int | None = None) -> None:
        self.memory_limit_mib = memory_limit_mib  # the address space a child may map
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def run(
        self, claim: Claim, parts: dict[str, bytes], stop: threading.Event | None = None
    ) -> Outcome:
        """Run ``claim`` to its end, its timeout, or until ``stop`` is set (canceled)."""
        outcomes: list[Outcome] = []
        self.run_many([(claim, parts, stop)], lambda _, outcome: outcomes.append(outcome))
        return outcomes[0]

    def run_many(
        self,
        tasks: Sequence[tuple[Claim, dict[str, bytes], threading.Event | None]],
        report: Callable[[Claim, Outcome], None],
        begin: Callable[[Claim], None] | None = None,
    ) -> None:
        """Run ``tasks`` one after the other, handing each outcome to ``report`` as it ends,
        and each claim to ``begin`` as the child begins it.

        They cross to the child in one message and it answers each as it ends, so a batch of
        fast inputs costs one round trip, not one each. Each input still has its own timeout,
        counted from the end of the one before; the child is killed and replaced for an input
        that times out or is canceled, and the inputs after it run in the new child.
        """
        left = list(tasks)
        while left:
            while left and left[0][2] is not None and left[0][2].is_set():
                report(left[0][0], self.ended(InputStatus.CANCELED, "canceled before it ran"))
                left.pop(0)
            if not left:
                return
            conn = self._child()
            conn.send([(claim.entry_point, parts, claim.args) for claim, parts, _ in left])
            ran = 0
            for claim, _, stop in left:
                if begin is not None:
                    begin(claim)
                outcome, child_lives = self._await(conn, claim, stop)
                report(claim, outcome)
                ran += 1
                if not child_lives:
                    break
            left = left[ran:]

    def _await(
        self, conn: Connection, claim: Claim, stop: threading.Event | None
    ) -> tuple[Outcome, bool]:
        """The outcome of the input the child runs now, and whether the child lives on."""
        started = datetime.now(UTC)
        deadline = time.monotonic() + claim.timeout_seconds
        while not conn.poll(WATCH_SECONDS):
            if stop is not None and stop.is_set():
                self.close()
                return self.ended(InputStatus.CANCELED, "canceled while running", started), False
            if time.monotonic() >= deadline:
                self.close()
                error = (
                    f"timed out after {claim.timeout_seconds:g} seconds; its processes were killed"
                )
                return self.ended(InputStatus.TIMEDOUT, error, started), False
            if self._process is not None and not self._process.is_alive():
                break
        try:
            kind, value, files, cpu, peak_kib = conn.recv()
        except (EOFError, OSError):
            return self.ended(InputStatus.FAILED, self._death(), started), False
        if kind != "ok":
            return self.ended(InputStatus.FAILED, str(value), started, cpu), True
        outcome = Outcome(
            status=InputStatus.SUCCEEDED,
            started_at=started,
            finished_at=datetime.now(UTC),
            cpu_seconds=cpu,
            outputs=value,
            files=files,
            peak_memory_kib=peak_kib,
        )
        return outcome, True

    @staticmethod
    def ended(
        status: InputStatus, error: str, started: datetime | None = None, cpu: float = 0.0
    ) -> Outcome:
        """The outcome of an input that did not succeed."""
        now = datetime.now(UTC)
        return Outcome(
            status=status, started_at=started or now, finished_at=now, cpu_seconds=cpu, error=error
        )

    def close(self) -> None:
        """Kill the child and everything it started."""
        if self._process is None:
            return
        if self._process.pid is not None and self._process.is_alive():
            reap.kill_descendants(self._process.pid)  # also what left its group
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended on its own in between, or has no group of its own yet
            # A child killed before it made its own process group is not in that group.
            self._process.kill()
        if self._process.pid is not None:  # a child that failed to start has nothing to join
            self._process.join()
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def _child(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self.close()
        _context.set_forkserver_preload(_preload())  # read when the fork server starts
        parent_end, child_end = _context.Pipe()
        self._process = _context.Process(
            target=child.serve, args=(child_end, self.memory_limit_mib), daemon=True
        )
        self._process.start()
        child_end.close()
        self._conn = parent_end
        return parent_end

    def _death(self) -> str:
        process = self._process
        self.close()
        code = process.exitcode if process is not None else None
        if code is not None and code < 0:
            return f"the model's process was killed by signal {signal.Signals(-code).name}"
        return f"the model's process exited with code {code}"
