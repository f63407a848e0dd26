"""Job and input statuses, their categories, and how each dialect spells them.

This module is the one source of truth for statuses (DESIGN §2): the native names, the
categories PENDING / TERMINATED / ALL, the Modzy and JESS spellings in both directions, and the
rule that derives a job's status from its input counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class JobStatus(StrEnum):
    OPEN = "OPEN"
    SUBMITTED = "SUBMITTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    CANCELED = "CANCELED"
    TIMEDOUT = "TIMEDOUT"
    REJECTED = "REJECTED"

    @property
    def terminal(self) -> bool:
        return self in TERMINATED

    @property
    def category(self) -> str:
        """The job's status category: TERMINATED or PENDING."""
        return "TERMINATED" if self.terminal else "PENDING"


class InputStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TIMEDOUT = "TIMEDOUT"

    @property
    def terminal(self) -> bool:
        return self not in (InputStatus.QUEUED, InputStatus.RUNNING)


PENDING = frozenset({JobStatus.OPEN, JobStatus.SUBMITTED, JobStatus.IN_PROGRESS})
TERMINATED = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.ERROR,
        JobStatus.CANCELED,
        JobStatus.TIMEDOUT,
        JobStatus.REJECTED,
    }
)
ALL = frozenset(JobStatus)

CATEGORIES: dict[str, frozenset[JobStatus]] = {
    "ALL": ALL,
    "PENDING": PENDING,
    "TERMINATED": TERMINATED,
}

# Spellings other than the native ones that a filter accepts, from every dialect.
_ALIASES: dict[str, frozenset[JobStatus]] = {
    "CANCELLED": frozenset({JobStatus.CANCELED}),
    "INPROGRESS": frozenset({JobStatus.IN_PROGRESS}),
    "RUNNING": frozenset({JobStatus.IN_PROGRESS}),
    # JESS (DESIGN §2: a JESS filter maps back)
    "FINISHED": frozenset({JobStatus.COMPLETED, JobStatus.ERROR}),
    "QUEUED": frozenset({JobStatus.SUBMITTED, JobStatus.IN_PROGRESS}),
    "ACCEPTED": frozenset({JobStatus.OPEN}),
    "UNPACKED": frozenset({JobStatus.OPEN}),
}

ACCEPTED_STATUS_NAMES: tuple[str, ...] = (
    *CATEGORIES,
    *(s.value for s in JobStatus),
    *_ALIASES,
)


def parse_status(name: str) -> frozenset[JobStatus] | None:
    """The statuses one filter word stands for, or None when the word is unknown.

    Case-insensitive; accepts categories, native names and every dialect's spelling.
    >>> sorted(parse_status("finished"))
    [<JobStatus.COMPLETED: 'COMPLETED'>, <JobStatus.ERROR: 'ERROR'>]
    """
    word = name.strip().upper().replace("-", "_").replace(" ", "_")
    if word in CATEGORIES:
        return CATEGORIES[word]
    if word in JobStatus.__members__:
        return frozenset({JobStatus(word)})
    return _ALIASES.get(word)


def statuses_matching(words: Iterable[str]) -> tuple[frozenset[JobStatus], list[str]]:
    """Union of the statuses the words stand for, and the words that were not understood."""
    found: set[JobStatus] = set()
    unknown: list[str] = []
    for word in words:
        parsed = parse_status(word)
        if parsed is None:
            unknown.append(word)
        else:
            found |= parsed
    return frozenset(found), unknown


# Outbound spellings (DESIGN §2 table).
MODZY: dict[JobStatus, str] = {
    JobStatus.OPEN: "OPEN",
    JobStatus.SUBMITTED: "SUBMITTED",
    JobStatus.IN_PROGRESS: "IN_PROGRESS",
    JobStatus.COMPLETED: "COMPLETED",
    JobStatus.ERROR: "ERROR",
    JobStatus.CANCELED: "CANCELED",
    JobStatus.TIMEDOUT: "TIMEDOUT",
    JobStatus.REJECTED: "ERROR",
}

# How Modzy's results spell the status of one input (its "Get results" documentation).
MODZY_INPUT: dict[InputStatus, str] = {
    InputStatus.QUEUED: "QUEUED",
    InputStatus.RUNNING: "RUNNING",
    InputStatus.SUCCEEDED: "SUCCESSFUL",
    InputStatus.FAILED: "FAILED",
    InputStatus.CANCELED: "CANCELED",
    InputStatus.TIMEDOUT: "TIMEDOUT",
}

JESS: dict[JobStatus, str] = {
    JobStatus.OPEN: "ACCEPTED",
    JobStatus.SUBMITTED: "QUEUED",
    JobStatus.IN_PROGRESS: "QUEUED",
    JobStatus.COMPLETED: "FINISHED",
    JobStatus.ERROR: "FINISHED",
    JobStatus.CANCELED: "CANCELED",
    JobStatus.TIMEDOUT: "CANCELED",
    JobStatus.REJECTED: "REJECTED",
}


@dataclass(frozen=True, slots=True)
class Counters:
    """How many of a job's inputs are in each status; they always add up to ``total``."""

    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    timed_out: int = 0

    @property
    def ended(self) -> int:
        return self.succeeded + self.failed + self.canceled + self.timed_out

    @property
    def pending(self) -> int:
        return self.queued + self.running

    def moved(self, old: InputStatus | None, new: InputStatus) -> Counters:
        """The counters after one input went from ``old`` (None: a new input) to ``new``."""
        values = {name: getattr(self, name) for name in _COUNTER_FIELDS}
        if old is None:
            values["total"] += 1
        else:
            values[COUNTER_OF[old]] -= 1
        values[COUNTER_OF[new]] += 1
        return Counters(**values)


COUNTER_OF: dict[InputStatus, str] = {
    InputStatus.QUEUED: "queued",
    InputStatus.RUNNING: "running",
    InputStatus.SUCCEEDED: "succeeded",
    InputStatus.FAILED: "failed",
    InputStatus.CANCELED: "canceled",
    InputStatus.TIMEDOUT: "timed_out",
}
_COUNTER_FIELDS = ("total", *COUNTER_OF.values())


def stopped_by(job_status: JobStatus) -> InputStatus:
    """How an input ends that its job's end stopped: TIMEDOUT with a timed-out job, CANCELED
    otherwise."""
    return InputStatus.TIMEDOUT if job_status is JobStatus.TIMEDOUT else InputStatus.CANCELED


def derive_job_status(current: JobStatus, counters: Counters) -> JobStatus:
    """The status a job has once its inputs are counted as ``counters``.

    An OPEN job stays open (still receiving inputs) and a terminal job keeps its status; a
    submitted job is IN_PROGRESS once an input has started, and ends when every input has:
    COMPLETED if at least one succeeded, otherwise TIMEDOUT if any timed out, CANCELED if any
    was canceled, and ERROR when all failed.
    """
    if current is JobStatus.OPEN or current.terminal:
        return current
    if counters.total and counters.ended == counters.total:
        if counters.succeeded:
            return JobStatus.COMPLETED
        if counters.timed_out:
            return JobStatus.TIMEDOUT
        if counters.canceled:
            return JobStatus.CANCELED
        return JobStatus.ERROR
    if counters.running or counters.ended:
        return JobStatus.IN_PROGRESS
    return JobStatus.SUBMITTED
