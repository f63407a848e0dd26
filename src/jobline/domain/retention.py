"""Retention: which old jobs an operator deletes, and what a deletion found and removed.

A :class:`RetentionRule` says "terminated jobs older than this, of these statuses and accounts,
aged by this timestamp" (DESIGN §3 "retention": status, age and account). It is built from the
``jobline retention`` flags by :meth:`RetentionRule.parse`, which is where bad input stops, with
a message naming the flag, the value and what is accepted. Only TERMINATED jobs are ever
selected: a job that may still run is never deleted, whatever ``--status`` asks for.

>>> rule = RetentionRule.parse("90d", statuses=["finished", "queued"])
>>> sorted(map(str, rule.statuses)), sorted(map(str, rule.ignored))
(['COMPLETED', 'ERROR'], ['IN_PROGRESS', 'SUBMITTED'])
>>> rule.cutoff(datetime(2024, 5, 1, tzinfo=UTC)).isoformat()
'2024-02-01T00:00:00+00:00'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobline.domain.ordering import invalid_query
from jobline.domain.status import ACCEPTED_STATUS_NAMES, TERMINATED, JobStatus, statuses_matching
from jobline.domain.times import TimeField

DURATION_UNITS: dict[str, timedelta] = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}
DURATION_FORMS = (
    "a whole number followed by m (minutes), h (hours), d (days), w (weeks) or y (365 days), "
    "such as 90d, 12h, 30m, 2w, 1y"
)
# Far enough for any real policy, near enough that "now minus it" stays a valid datetime.
MAX_AGE = timedelta(days=365 * 1000)
# ASCII digits only: \d also takes other scripts' digits. Units are lowercase only, so an
# "M" meant as months is refused rather than read as minutes.
_DURATION = re.compile(r"([0-9]{1,9})([mhdwy])")


def parse_duration(text: str) -> timedelta:
    """The age an ``--older-than`` value stands for.

    >>> parse_duration("2w")
    datetime.timedelta(days=14)
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise invalid_query("--older-than", text, "not a duration", DURATION_FORMS)
    count, unit = int(match[1]), DURATION_UNITS[match[2]]
    # Compared before multiplying: a huge count overflows timedelta.
    if not 0 < count <= MAX_AGE // unit:
        raise invalid_query(
            "--older-than", text, "must be more than 0 and at most 1000y", DURATION_FORMS
        )
    return count * unit


@dataclass(frozen=True)
class RetentionRule:
    """Which jobs a retention run deletes: terminated, older than ``older_than`` by ``time_field``.

    ``statuses`` holds only terminal statuses; ``ignored`` holds the pending ones the operator
    asked for, so the output can say they were left alone. No ``accounts`` means every account.
    A job without the chosen timestamp (an unfinished job, by ``finished``) is never selected.
    """

    older_than: timedelta
    statuses: frozenset[JobStatus] = TERMINATED
    accounts: tuple[str, ...] = ()
    time_field: TimeField = TimeField.finished
    ignored: frozenset[JobStatus] = frozenset()

    @classmethod
    def parse(
        cls,
        older_than: str,
        *,
        statuses: Sequence[str] = (),
        accounts: Sequence[str] = (),
        time_field: TimeField = TimeField.finished,
    ) -> RetentionRule:
        """The rule the command's flags describe; statuses and accounts may be comma-separated.

        Status words are read like the history's: case-insensitive, categories and every
        dialect's spelling. No status words means every terminated job.
        """
        words = [word for value in statuses for word in value.split(",") if word.strip()]
        wanted, unknown = statuses_matching(words)
        if unknown:
            raise invalid_query("--status", unknown[0], "unknown status", ACCEPTED_STATUS_NAMES)
        if not words:
            wanted = TERMINATED
        names = (name.strip() for value in accounts for name in value.split(","))
        return cls(
            older_than=parse_duration(older_than),
            statuses=wanted & TERMINATED,
            accounts=tuple(sorted({name for name in names if name})),
            time_field=time_field,
            ignored=wanted - TERMINATED,
        )

    def cutoff(self, now: datetime) -> datetime:
        """The instant a selected job's timestamp must be before."""
        return (now - self.older_than).astimezone(UTC)


@dataclass(frozen=True)
class RetentionGroup:
    """The selected jobs of one account in one status: how many, their inputs, their bytes."""

    account: str
    status: JobStatus
    jobs: int
    inputs: int
    bytes: int  # submission + result sizes
    oldest: datetime
    newest: datetime


@dataclass(frozen=True)
class RetentionPlan:
    """What a rule selects at one moment, per account and status; nothing is deleted."""

    rule: RetentionRule
    cutoff: datetime
    groups: tuple[RetentionGroup, ...]

    @property
    def jobs(self) -> int:
        return sum(group.jobs for group in self.groups)

    @property
    def inputs(self) -> int:
        return sum(group.inputs for group in self.groups)

    @property
    def bytes(self) -> int:
        return sum(group.bytes for group in self.groups)

    @property
    def oldest(self) -> datetime | None:
        return min((group.oldest for group in self.groups), default=None)

    @property
    def newest(self) -> datetime | None:
        return max((group.newest for group in self.groups), default=None)


@dataclass(frozen=True)
class RetentionReport:
    """What a retention run deleted, so far or in all; ``blob_folders`` are the jobs' blobs."""

    jobs: int = 0
    inputs: int = 0
    events: int = 0
    blob_folders: int = 0
    batches: int = 0

    def __add__(self, other: RetentionReport) -> RetentionReport:
        return RetentionReport(
            jobs=self.jobs + other.jobs,
            inputs=self.inputs + other.inputs,
            events=self.events + other.events,
            blob_folders=self.blob_folders + other.blob_folders,
            batches=self.batches + other.batches,
        )
