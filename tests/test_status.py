"""Statuses: one table of spellings, and the rule that derives a job's status."""

from __future__ import annotations

import pytest

from jobline.domain.status import (
    JESS,
    MODZY,
    PENDING,
    TERMINATED,
    Counters,
    InputStatus,
    JobStatus,
    derive_job_status,
    parse_status,
    statuses_matching,
    stopped_by,
)


def test_categories_partition_the_statuses() -> None:
    assert PENDING | TERMINATED == set(JobStatus)
    assert not PENDING & TERMINATED


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("cancelled", {JobStatus.CANCELED}),
        ("Canceled", {JobStatus.CANCELED}),
        ("in-progress", {JobStatus.IN_PROGRESS}),
        ("FINISHED", {JobStatus.COMPLETED, JobStatus.ERROR}),
        ("queued", {JobStatus.SUBMITTED, JobStatus.IN_PROGRESS}),
        ("UNPACKED", {JobStatus.OPEN}),
        ("pending", set(PENDING)),
        ("all", set(JobStatus)),
    ],
)
def test_every_dialect_spelling_parses(word: str, expected: set[JobStatus]) -> None:
    assert parse_status(word) == expected


def test_unknown_words_are_reported() -> None:
    found, unknown = statuses_matching(["ERROR", "sleeping"])
    assert found == {JobStatus.ERROR} and unknown == ["sleeping"]


def test_every_status_has_a_spelling_in_each_dialect() -> None:
    assert set(MODZY) == set(JESS) == set(JobStatus)
    assert MODZY[JobStatus.REJECTED] == "ERROR"
    assert JESS[JobStatus.TIMEDOUT] == "CANCELED"


def _after(*moves: tuple[InputStatus | None, InputStatus]) -> Counters:
    counters = Counters()
    for old, new in moves:
        counters = counters.moved(old, new)
    return counters


Q, R, S, F = InputStatus.QUEUED, InputStatus.RUNNING, InputStatus.SUCCEEDED, InputStatus.FAILED


def test_derived_status_follows_the_inputs() -> None:
    two_queued = _after((None, Q), (None, Q))
    assert derive_job_status(JobStatus.SUBMITTED, two_queued) is JobStatus.SUBMITTED
    one_running = two_queued.moved(Q, R)
    assert derive_job_status(JobStatus.SUBMITTED, one_running) is JobStatus.IN_PROGRESS
    one_failed = one_running.moved(R, F)
    assert derive_job_status(JobStatus.IN_PROGRESS, one_failed) is JobStatus.IN_PROGRESS
    mixed = one_failed.moved(Q, R).moved(R, S)
    assert mixed.total == mixed.ended == 2
    assert derive_job_status(JobStatus.IN_PROGRESS, mixed) is JobStatus.COMPLETED
    all_failed = one_failed.moved(Q, R).moved(R, F)
    assert derive_job_status(JobStatus.IN_PROGRESS, all_failed) is JobStatus.ERROR


def test_open_and_ended_jobs_keep_their_status() -> None:
    done = _after((None, Q)).moved(Q, R).moved(R, S)
    assert derive_job_status(JobStatus.OPEN, done) is JobStatus.OPEN
    assert derive_job_status(JobStatus.CANCELED, done) is JobStatus.CANCELED


def test_an_input_stopped_by_its_jobs_end_ends_timed_out_only_with_a_timed_out_job() -> None:
    assert stopped_by(JobStatus.TIMEDOUT) is InputStatus.TIMEDOUT
    assert stopped_by(JobStatus.CANCELED) is InputStatus.CANCELED
