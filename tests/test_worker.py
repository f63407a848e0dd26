"""The worker loop: burst mode in tests, background threads in ``serve``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jobline.core import jobs
from jobline.core.jobs import Submission
from jobline.domain.records import Principal
from jobline.domain.status import InputStatus, JobStatus
from jobline.store import Store
from jobline.worker.loop import Worker
from jobline.worker.source import LocalWorkSource
from tests.conftest import MakeUser


def _caller(make_user: MakeUser) -> Principal:
    user, _ = make_user("ann")
    return Principal(user=user, key_prefix=None)


def test_failing_model_ends_the_job_in_error_with_the_message(
    store: Store, make_user: MakeUser, drain: Callable[[], int]
) -> None:
    caller = _caller(make_user)
    job = jobs.submit(store, caller, Submission("fail", {"a": {"input": b"x"}}))
    assert drain() == 1
    done, (item,) = jobs.results(store, caller, job.identifier)
    assert done.status is JobStatus.ERROR
    assert item.error == "fail: this model always fails"
    assert item.cpu_seconds >= 0 and item.attempts == 1


def test_mixed_outcomes_complete_the_job_and_sum_cpu_time(
    store: Store, make_user: MakeUser, drain: Callable[[], int]
) -> None:
    caller = _caller(make_user)
    inputs = {"ok": {"input": b"0.01"}, "bad": {"input": b"not a number"}}
    job = jobs.submit(store, caller, Submission("sleep", inputs))
    drain()
    done, items = jobs.results(store, caller, job.identifier)
    assert done.status is JobStatus.COMPLETED
    assert {i.source: i.status.value for i in items} == {"ok": "SUCCEEDED", "bad": "FAILED"}
    assert "not a number" in next(i.error for i in items if i.source == "bad")
    assert done.cpu_seconds == sum(i.cpu_seconds for i in items)


def test_background_worker_wakes_on_submit(store: Store, make_user: MakeUser) -> None:
    caller = _caller(make_user)
    worker = Worker(LocalWorkSource(store), slots=2, name="bg")
    worker.start()
    try:
        # Let both slots go idle, so the job is picked up by a wake-up, not a first claim.
        time.sleep(0.1)
        job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
        deadline = time.monotonic() + 5
        while jobs.get(store, caller, job.id).status is not JobStatus.COMPLETED:
            assert time.monotonic() < deadline, "the idle worker did not pick the job up"
            time.sleep(0.01)
        waited = time.monotonic() - (deadline - 5)
    finally:
        worker.stop()
    assert waited < 0.9  # well under the idle poll of one second: woken, not polled


def test_the_input_a_slot_runs_is_running_and_the_one_behind_it_queued(
    store: Store, make_user: MakeUser
) -> None:
    caller = _caller(make_user)
    job = jobs.submit(
        store, caller, Submission("sleep", {"a": {"input": b"1.5"}, "b": {"input": b"1.5"}})
    )
    worker = Worker(LocalWorkSource(store), slots=1, name="one-slot")
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while (moving := jobs.get(store, caller, job.id)).status is JobStatus.SUBMITTED:
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.02)
        _, items = jobs.results(store, caller, job.id)
    finally:
        worker.stop()
    assert moving.status is JobStatus.IN_PROGRESS and moving.started_at is not None
    assert (moving.counters.running, moving.counters.queued) == (1, 1)
    assert [item.status for item in items] == [InputStatus.RUNNING, InputStatus.QUEUED]


def test_work_queued_on_one_node_wakes_another_on_postgres(
    store: Store, database_url: str, tmp_path: Path, make_user: MakeUser
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("nodes share a database only on PostgreSQL (LISTEN/NOTIFY)")
    other_node = Store.open(database_url, tmp_path / "other-blobs")
    woken = threading.Event()
    try:
        other_node.on_work(woken.set)
        time.sleep(0.3)  # the other node's listener connects (it also wakes once on connect)
        woken.clear()
        jobs.submit(store, _caller(make_user), Submission("echo", {"a": {"input": b"x"}}))
        assert woken.wait(2.0), "the other node did not hear of the new work"
    finally:
        other_node.close()
