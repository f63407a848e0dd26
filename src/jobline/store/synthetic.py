"""Synthetic job rows for the seeder (:mod:`jobline.store.seed`): who, what, how it ended.

Each row is a tuple in :func:`columns` order, ready for COPY or ``executemany``; JSON values are
already JSON text. The shapes (a Zipf law of users and models, input counts with a long tail,
statuses, consistent counters and times) are described in :mod:`jobline.store.seed`.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobline.domain.status import JobStatus
from jobline.store.tables import jobs

MAX_INPUTS = 1000
CHUNK_ROWS = 10_000  # jobs generated and written at a time: memory stays flat
PENDING_WINDOW_SECONDS = 86_400.0  # only jobs this recent may still be pending
GROWTH = 2.0  # the last day of the history is this much busier than the first, plus one
_JOB_WORDS = ("batch",) * 6 + ("nightly", "sweep", "eval", "scoring", "backfill", "report", "test")
_LABEL_SETS = (("nightly",), ("prod",), ("staging",), ("experiment",), ("prod", "urgent"))

# Cumulative shares of the statuses a job ends with; what is left over is "still pending".
_ENDINGS = (
    (0.85, JobStatus.COMPLETED),
    (0.92, JobStatus.ERROR),
    (0.95, JobStatus.CANCELED),
    (0.96, JobStatus.TIMEDOUT),
    (0.965, JobStatus.REJECTED),
)
_ERRORS = (
    "input 'input' is missing; it must be UTF-8 text",
    "out of memory while loading the model",
    "malformed IDF: unexpected end of object",
    "weather file not found",
    "worker lost (lease expired 3 times)",
)


@dataclass(frozen=True, slots=True)
class Person:
    """A seeded user, as its jobs need it."""

    user_id: int
    account_id: int
    username: str
    key_prefix: str
    favourite: int  # index of the model this user runs most


def _zipf(count: int, exponent: float = 1.0) -> list[float]:
    """Cumulative weights of ranks 1..count under a Zipf law, for :func:`_pick`."""
    total, cumulative = 0.0, []
    for rank in range(1, count + 1):
        total += rank**-exponent
        cumulative.append(total)
    return cumulative


# The job columns the seeder fills, in the order its rows hold them.
GENERATED = (
    "identifier",
    "name",
    "description",
    "account_id",
    "user_id",
    "username",
    "key_prefix",
    "model_id",
    "model_identifier",
    "model_version",
    "explain",
    "timeout_seconds",
    "args",
    "labels",
    "status",
    "message",
    "total",
    "queued",
    "running",
    "succeeded",
    "failed",
    "canceled",
    "timed_out",
    "created_at",
    "submitted_at",
    "started_at",
    "finished_at",
    "updated_at",
    "queue_seconds",
    "elapsed_seconds",
    "cpu_seconds",
    "submission_bytes",
    "result_bytes",
)


def _unset(name: str) -> Any:
    """What an INSERT leaving column ``name`` out would store: NULL or its constant default.

    Bulk loads bypass SQLAlchemy's client-side defaults, so the seeder fills them in itself.
    """
    column = jobs.c[name]
    if column.nullable:
        return None
    if column.default is not None and column.default.is_scalar:
        return column.default.arg  # type: ignore[attr-defined]
    raise RuntimeError(f"jobs.{name} is NOT NULL without a constant default: seed it explicitly")


def columns() -> tuple[str, ...]:
    """The job columns each row fills: all but the serial, which the database assigns in
    insertion order."""
    return GENERATED + _others()


def _others() -> tuple[str, ...]:
    # Columns added to the schema later get their defaults, so the seeder keeps working.
    return tuple(c.name for c in jobs.c if c.name != "id" and c.name not in GENERATED)


class JobMaker:
    """Makes one job row (in ``GENERATED`` order) for a submission time."""

    def __init__(
        self,
        people: list[Person],
        model_rows: list[tuple[int, str]],
        rng: random.Random,
        end: float,
    ) -> None:
        self.people, self.model_rows, self.rng, self.end = people, model_rows, rng, end
        self.user_weights = _zipf(len(people))
        self.model_weights = _zipf(len(model_rows))
        self.labels = ["[]"] * 3 + [json.dumps(list(labels)) for labels in _LABEL_SETS]
        self.never, self.not_yet = _unset("finished_at"), _unset("elapsed_seconds")
        self.no_queue = _unset("queue_seconds")

    def __call__(self, submitted: float) -> tuple[Any, ...]:
        rng = self.rng
        person = self.people[_pick(self.user_weights, rng)]
        model = rng.randrange(len(self.model_rows))
        if rng.random() < 0.5:
            model = person.favourite if rng.random() < 0.6 else _pick(self.model_weights, rng)
        model_id, model_identifier = self.model_rows[model]
        total = min(MAX_INPUTS, int(rng.paretovariate(1.1)))
        status = _ending(rng.random(), self.end - submitted)
        queue = rng.lognormvariate(0.7, 1.3)  # median 2 s, now and then minutes
        elapsed = rng.lognormvariate(1.0, 1.0) * total**0.8
        timeout = None
        if status is JobStatus.TIMEDOUT:
            timeout = rng.choice((60.0, 300.0, 900.0, 3600.0))
            elapsed = timeout + rng.uniform(0.0, 2.0)
        elif status in (JobStatus.CANCELED, JobStatus.ERROR):
            elapsed *= rng.uniform(0.05, 0.9)
        if status.terminal and submitted + queue + elapsed >= self.end:  # still going
            running = submitted + queue < self.end
            status = JobStatus.IN_PROGRESS if running else JobStatus.SUBMITTED
        counters = self._counters(status, total)
        message = _message(status, counters, timeout, person.username, rng.choice(_ERRORS))
        times = self._times(status, counters, submitted, queue, elapsed)
        return (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            f"{rng.choice(_JOB_WORDS)} {rng.randrange(1, 10_000)}",
            "",
            person.account_id,
            person.user_id,
            person.username,
            person.key_prefix,
            model_id,
            model_identifier,
            "1.0.0",
            rng.random() < 0.02,
            timeout,
            "{}",
            self.labels[rng.randrange(len(self.labels))] if rng.random() < 0.25 else "[]",
            status.value,
            message,
            total,
            *counters,
            *times,
            total * int(rng.lognormvariate(7.5, 1.2)),
            counters[2] * int(rng.lognormvariate(6.0, 1.0)),
        )

    def _counters(self, status: JobStatus, total: int) -> tuple[int, int, int, int, int, int]:
        """Queued, running, succeeded, failed, canceled, timed out: adding up to ``total``."""
        rng = self.rng
        if status is JobStatus.COMPLETED:
            failed = rng.randint(1, total - 1) if total > 1 and rng.random() < 0.08 else 0
            return 0, 0, total - failed, failed, 0, 0
        if status in (JobStatus.ERROR, JobStatus.REJECTED):
            return 0, 0, 0, total, 0, 0
        if status is JobStatus.TIMEDOUT:
            succeeded = rng.randrange(total)
            return 0, 0, succeeded, 0, 0, total - succeeded
        if status is JobStatus.CANCELED:
            succeeded = rng.randrange(total)
            return 0, 0, succeeded, 0, total - succeeded, 0
        if status is JobStatus.IN_PROGRESS:
            running = rng.randint(1, min(total, 4))
            succeeded = rng.randint(0, total - running)
            return total - running - succeeded, running, succeeded, 0, 0, 0
        return total, 0, 0, 0, 0, 0

    def _times(
        self,
        status: JobStatus,
        counters: tuple[int, ...],
        submitted: float,
        queue: float,
        elapsed: float,
    ) -> tuple[Any, ...]:
        """created, submitted, started, finished, updated; queue, elapsed and CPU seconds."""
        rng, end = self.rng, self.end
        started: float | None = submitted + queue
        finished: float | None = submitted + queue + elapsed
        # Several inputs run in parallel, so a job's CPU time may pass its elapsed time.
        cpu = elapsed * rng.uniform(0.3, 1.0 if sum(counters) == 1 else 1.6)
        never_ran = status in (JobStatus.OPEN, JobStatus.SUBMITTED, JobStatus.REJECTED) or (
            status is JobStatus.CANCELED and counters[2] == 0 and rng.random() < 0.5
        )
        if never_ran:
            started, cpu = None, 0.0
            # Rejected and canceled jobs end before they start; the clock runs from submission.
            finished = submitted + queue * rng.uniform(0.05, 1.0) if status.terminal else None
        elif not status.terminal:
            finished = None
            cpu = (end - submitted - queue) * rng.uniform(0.2, 1.0)
        updated = finished or submitted
        if status is JobStatus.IN_PROGRESS:
            updated = submitted + queue + (end - submitted - queue) * rng.random()
        created = submitted
        if status is not JobStatus.OPEN and rng.random() < 0.05:
            created -= rng.uniform(1.0, 300.0)  # opened, uploaded to, then submitted
        at = datetime.fromtimestamp
        return (
            at(created, UTC),
            at(submitted, UTC),
            None if started is None else at(started, UTC),
            self.never if finished is None else at(finished, UTC),
            at(updated, UTC),
            self.no_queue if started is None else queue,
            self.not_yet if finished is None else finished - (started or submitted),
            cpu,
        )


def _message(
    status: JobStatus,
    counters: tuple[int, int, int, int, int, int],
    timeout: float | None,
    username: str,
    error: str,
) -> str:
    failed, total = counters[3], sum(counters)
    if status is JobStatus.REJECTED:
        return f"input validation failed: {error}"
    if status is JobStatus.TIMEDOUT:
        return f"timed out after {timeout:.0f} s"
    if status is JobStatus.CANCELED:
        return f"canceled by {username}"
    return f"{failed} of {total} inputs failed: {error}" if failed else ""


def _pick(cumulative: list[float], rng: random.Random) -> int:
    return bisect.bisect(cumulative, rng.random() * cumulative[-1])


def _ending(draw: float, age: float) -> JobStatus:
    """The status of a job whose status draw is ``draw``, submitted ``age`` seconds ago."""
    for cut, status in _ENDINGS:
        if draw < cut:
            return status
    if age > PENDING_WINDOW_SECONDS:
        return JobStatus.COMPLETED
    return JobStatus.SUBMITTED if draw < 0.99 else JobStatus.OPEN


def job_chunks(
    count: int,
    people: list[Person],
    model_rows: list[tuple[int, str]],
    rng: random.Random,
    start: float,
    end: float,
) -> Iterator[list[tuple[Any, ...]]]:
    """``count`` job rows submitted from ``start`` to ``end`` (epoch seconds), in submission
    order, ``CHUNK_ROWS`` at a time."""
    extras = tuple(_unset(name) for name in _others())
    make = JobMaker(people, model_rows, rng, end)
    span, growth = end - start, GROWTH
    for first in range(0, count, CHUNK_ROWS):
        chunk = []
        for k in range(first, min(count, first + CHUNK_ROWS)):
            # One job per 1/count slice of the history, at a random point of its slice, mapped
            # through the inverse distribution of a density rising linearly by GROWTH.
            share = (k + rng.random()) / count
            offset = (math.sqrt(1 + 2 * growth * share * (1 + growth / 2)) - 1) / growth
            chunk.append(make(start + span * offset) + extras)
        yield chunk
