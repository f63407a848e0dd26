"""Running inputs in child processes: crashes, timeouts, cancellation, leases."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from jobline import errors
from jobline.core import jobs, work
from jobline.core.jobs import Submission
from jobline.domain.records import Principal
from jobline.domain.status import InputStatus, JobStatus
from jobline.domain.work import Claim, Outcome
from jobline.models.builtin import Echo, Sleep
from jobline.store import Store, catalog
from jobline.worker.loop import Worker
from jobline.worker.runner import Runner
from jobline.worker.source import LocalWorkSource
from tests.conftest import MakeClient, MakeUser
from tests.fixture_models import Crash, Hog, NotJson, Spawner, Words


@pytest.fixture
def caller(store: Store, make_user: MakeUser) -> Principal:
    with store.write() as conn:
        for code in (Crash, NotJson, Spawner):
            catalog.register(conn, code.name, code.description, code.model_version())
    user, _ = make_user("ann")
    return Principal(user=user, key_prefix=None)


@pytest.fixture
def worker(store: Store) -> Iterator[Worker]:
    running = Worker(LocalWorkSource(store), slots=2, name="test")
    running.start()
    yield running
    running.stop()


def _until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_a_crashing_model_fails_its_input_and_the_worker_goes_on(
    store: Store, caller: Principal, drain: Callable[[], int]
) -> None:
    crashed = jobs.submit(store, caller, Submission("crash", {"a": {"input": b"x"}}))
    fine = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
    drain()
    _, (item,) = jobs.results(store, caller, crashed.identifier)
    assert item.status is InputStatus.FAILED
    assert item.error == "the model's process exited with code 3"
    assert jobs.get(store, caller, fine.identifier).status is JobStatus.COMPLETED


def test_outputs_that_are_not_json_fail_their_input_and_the_worker_goes_on(
    store: Store, caller: Principal, drain: Callable[[], int]
) -> None:
    bad = jobs.submit(
        store, caller, Submission("notjson", {"nan": {"input": b"nan"}, "set": {"input": b"x"}})
    )
    fine = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
    drain()
    _, items = jobs.results(store, caller, bad.identifier)
    assert {item.status for item in items} == {InputStatus.FAILED}
    assert all(item.error.startswith("the model's outputs are not JSON") for item in items)
    assert jobs.get(store, caller, bad.identifier).status is JobStatus.ERROR
    assert jobs.get(store, caller, fine.identifier).status is JobStatus.COMPLETED


def test_an_input_past_its_timeout_is_killed_with_what_it_started(
    store: Store, caller: Principal, drain: Callable[[], int], tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    job = jobs.submit(
        store,
        caller,
        Submission("spawner", {"a": {"input": str(pid_file).encode()}}, timeout_seconds=1.0),
    )
    started = time.monotonic()
    drain()
    assert time.monotonic() - started < 5
    done, (item,) = jobs.results(store, caller, job.identifier)
    assert (done.status, item.status) == (JobStatus.TIMEDOUT, InputStatus.TIMEDOUT)
    assert "timed out after 1 s" in item.error
    grandchild = int(pid_file.read_text())
    _until(lambda: not _alive(grandchild))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its parent to reap it is dead for our purpose.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_cancel_stops_a_running_input_within_a_second(
    store: Store, caller: Principal, worker: Worker
) -> None:
    job = jobs.submit(store, caller, Submission("sleep", {"a": {"input": b"60"}}))
    _until(lambda: jobs.get(store, caller, job.id).counters.running == 1)
    canceled_at = time.monotonic()
    jobs.cancel(store, caller, job.id)
    _until(lambda: jobs.results(store, caller, job.id)[1][0].status is InputStatus.CANCELED)
    assert time.monotonic() - canceled_at < 1.5
    final = jobs.get(store, caller, job.id)
    assert final.status is JobStatus.CANCELED
    assert (final.counters.canceled, final.counters.running) == (1, 0)


def test_cpu_time_and_memory_come_from_the_child(
    store: Store, caller: Principal, drain: Callable[[], int]
) -> None:
    job = jobs.submit(store, caller, Submission("sentiment", {"a": {"input": b"I love it"}}))
    drain()
    _, (item,) = jobs.results(store, caller, job.identifier)
    assert item.status is InputStatus.SUCCEEDED
    assert item.cpu_seconds > 0 and item.peak_memory_kib > 10_000


def test_an_expired_lease_requeues_then_fails_after_three_attempts(
    store: Store, caller: Principal
) -> None:
    job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
    for attempt in (1, 2, 3):
        (claim,) = work.claim(store, f"vanishing-{attempt}", lease_seconds=0.0)
        assert claim.attempt == attempt
        time.sleep(0.01)
    assert work.claim(store, "next") == []  # the third expiry gives up instead
    done, (item,) = jobs.results(store, caller, job.identifier)
    assert (done.status, item.status) == (JobStatus.ERROR, InputStatus.FAILED)
    assert "vanished during each of 3 attempts" in item.error
    late = Outcome(InputStatus.SUCCEEDED, item.queued_at, item.queued_at)
    assert work.complete(store, [(claim, late)]) == [False]  # a late result is ignored


def test_heartbeat_renews_leases_and_reports_inputs_to_stop(
    store: Store, caller: Principal
) -> None:
    keep = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
    drop = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"y"}}))
    claims = work.claim(store, "w", limit=2, lease_seconds=0.0)
    jobs.cancel(store, caller, drop.id)
    by_job = {c.job_id: c.input_id for c in claims}
    assert work.heartbeat(store, "w", list(by_job.values())) == [by_job[drop.id]]
    assert work.claim(store, "other") == []  # the renewed lease is not expired any more
    assert work.heartbeat(store, "impostor", [by_job[keep.id]]) == [by_job[keep.id]]


def test_a_claimed_input_stays_queued_until_its_worker_begins_it(
    store: Store, caller: Principal
) -> None:
    job = jobs.submit(
        store, caller, Submission("echo", {"a": {"input": b"x"}, "b": {"input": b"y"}})
    )
    (held,) = work.claim(store, "w")
    _, items = jobs.results(store, caller, job.id)
    assert [item.status for item in items] == [InputStatus.QUEUED, InputStatus.QUEUED]
    waiting = jobs.get(store, caller, job.id)
    assert (waiting.status, waiting.counters.queued, waiting.started_at) == (
        JobStatus.SUBMITTED,
        2,
        None,
    )
    (other,) = work.claim(store, "other", limit=2)  # a held input is not claimed twice
    assert other.input_id != held.input_id

    assert work.heartbeat(store, "w", [held.input_id], started=[held.input_id]) == []
    begun = jobs.get(store, caller, job.id)
    assert (begun.status, begun.counters.queued, begun.counters.running) == (
        JobStatus.IN_PROGRESS,
        1,
        1,
    )
    assert begun.started_at is not None and begun.queue_seconds is not None
    assert [i.status for i in jobs.results(store, caller, job.id)[1] if i.id == held.input_id] == [
        InputStatus.RUNNING
    ]
    assert [e.to_status for e in jobs.events(store, caller, job.id)][-1] == "IN_PROGRESS"

    at = begun.started_at
    assert work.complete(store, [(held, Outcome(InputStatus.SUCCEEDED, at, at))]) == [True]
    assert work.complete(store, [(other, Outcome(InputStatus.SUCCEEDED, at, at))]) == [True]
    done = jobs.get(store, caller, job.id)
    assert (done.status, done.counters.succeeded, done.started_at) == (JobStatus.COMPLETED, 2, at)


def test_an_input_that_ends_before_it_was_reported_begun_moves_its_job_once(
    store: Store, caller: Principal
) -> None:
    job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
    (claim,) = work.claim(store, "w")
    began = job.submitted_at + timedelta(milliseconds=5)
    ended = Outcome(InputStatus.SUCCEEDED, began, began + timedelta(milliseconds=1))
    assert work.complete(store, [(claim, ended)]) == [True]
    done = jobs.get(store, caller, job.id)
    assert done.status is JobStatus.COMPLETED
    # The job's clock starts when its input began, as the worker measured it.
    assert done.started_at == began and done.queue_seconds == pytest.approx(0.005)
    steps = [(e.from_status, e.to_status) for e in jobs.events(store, caller, job.id)]
    assert steps == [(None, "SUBMITTED"), ("SUBMITTED", "COMPLETED")]


def test_cancel_ends_held_queued_inputs_at_once_and_running_ones_when_their_lease_expires(
    store: Store, caller: Principal
) -> None:
    job = jobs.submit(
        store, caller, Submission("echo", {"a": {"input": b"x"}, "b": {"input": b"y"}})
    )
    running, held = work.claim(store, "w", limit=2, lease_seconds=0.5)
    work.heartbeat(store, "w", [running.input_id, held.input_id], 0.5, [running.input_id])
    canceled = jobs.cancel(store, caller, job.id)
    assert (canceled.counters.canceled, canceled.counters.queued) == (1, 0)
    assert work.heartbeat(store, "w", [held.input_id]) == [held.input_id]  # stop it
    late = Outcome(InputStatus.SUCCEEDED, job.submitted_at, job.submitted_at)
    assert work.complete(store, [(held, late)]) == [False]

    time.sleep(0.6)
    work.housekeep(store)  # the running one's worker vanished: it ends with its job
    done, items = jobs.results(store, caller, job.id)
    assert [item.status for item in items] == [InputStatus.CANCELED, InputStatus.CANCELED]
    assert items[0].error == "the job was canceled"
    assert (done.status, done.counters.canceled, done.counters.running) == (
        JobStatus.CANCELED,
        2,
        0,
    )


def test_split_inputs_run_as_cases_and_are_collected(
    store: Store, caller: Principal, make_client: MakeClient, make_user: MakeUser
) -> None:
    with store.write() as conn:
        catalog.register(conn, Words.name, Words.description, Words.model_version())
    client = make_client(make_user("bob")[1])
    job = client.submit("words", {"text": {"input": "split me up"}})
    assert job["counts"]["total"] == 3
    Worker(LocalWorkSource(store), name="w").run_burst()
    results = client.results(job["identifier"])
    assert results["job"]["status"] == "COMPLETED"
    assert [i["source"] for i in results["inputs"]] == ["text/00", "text/01", "text/02"]
    assert results["collected"]["outputs"] == {"sentence": "SPLIT ME UP"}
    (file,) = results["collected"]["files"]
    assert client.collected_file(job["serial"], file["name"]) == b"SPLIT ME UP"
    with pytest.raises(errors.OutputNotFound, match="text/01"):  # sources with "/" route fine
        client.output_file(job["serial"], "text/01", "missing")
    events = [e["to_status"] for e in client.events(job["identifier"])]
    assert events[-1] == "COMPLETED"


def test_a_job_whose_cases_all_fail_is_not_collected(
    store: Store, caller: Principal, drain: Callable[[], int]
) -> None:
    with store.write() as conn:
        catalog.register(conn, Words.name, Words.description, Words.model_version())
    job = jobs.submit(store, caller, Submission("words", {"t": {"input": b"boom boom"}}))
    drain()
    assert jobs.get(store, caller, job.id).status is JobStatus.ERROR
    assert jobs.collected(store, caller, job.id) is None


def test_a_model_that_cannot_split_an_input_is_a_400(store: Store, caller: Principal) -> None:
    with store.write() as conn:
        catalog.register(conn, Words.name, Words.description, Words.model_version())
    with pytest.raises(errors.InvalidInputs, match="no words to split"):
        jobs.submit(store, caller, Submission("words", {"t": {"input": b"  "}}))


def test_a_huge_job_does_not_starve_another_users_small_one(
    store: Store, caller: Principal, make_user: MakeUser
) -> None:
    big = jobs.submit(
        store, caller, Submission("echo", {str(i): {"input": b"x"} for i in range(50)})
    )
    other = Principal(user=make_user("bob")[0], key_prefix=None)
    small = jobs.submit(store, other, Submission("echo", {"a": {"input": b"y"}}))
    claims = work.claim(store, "w", limit=4)
    assert [c.job_id for c in claims[:2]] == [big.id, small.id]  # one each, oldest first
    assert len(claims) == 4  # the rest of the batch is filled from what waits


def test_a_job_past_its_own_timeout_ends_timedout_with_its_inputs_stopped(
    store: Store, caller: Principal, worker: Worker
) -> None:
    inputs = {"a": {"input": b"60"}, "b": {"input": b"60"}, "c": {"input": b"60"}}
    job = jobs.submit(store, caller, Submission("sleep", inputs, job_timeout_seconds=1.0))
    _until(lambda: jobs.get(store, caller, job.id).status is JobStatus.TIMEDOUT)
    _until(lambda: jobs.get(store, caller, job.id).counters.running == 0)
    final, items = jobs.results(store, caller, job.id)
    assert {i.status for i in items} == {InputStatus.TIMEDOUT}
    assert final.counters.timed_out == 3 and "timeout of 1 s" in final.message


def test_a_batch_runs_in_one_child_and_a_timeout_or_cancel_stops_only_its_own_input() -> None:
    """Each input of a batch begins when the one before it has ended (what the worker then
    reports RUNNING), and ends on its own."""

    def claim(input_id: int, code: type[Echo] | type[Sleep], timeout: float) -> Claim:
        entry_point = code.model_version().entry_point
        return Claim(
            input_id,
            1,
            "job",
            str(input_id),
            code.identifier,
            "1",
            entry_point,
            {},
            {},
            1,
            "w",
            timeout,
        )

    canceled = threading.Event()
    canceled.set()
    tasks = [
        (claim(1, Echo, 10.0), {"input": b"a"}, None),
        (claim(2, Sleep, 0.5), {"input": b"60"}, None),
        (claim(3, Echo, 10.0), {"input": b"c"}, canceled),
        (claim(4, Echo, 10.0), {"input": b"d"}, None),
    ]
    steps: list[tuple[int, InputStatus | str]] = []
    runner = Runner()
    try:
        runner.run_many(
            tasks,
            lambda done, outcome: steps.append((done.input_id, outcome.status)),
            lambda begun: steps.append((begun.input_id, "begun")),
        )
    finally:
        runner.close()
    assert steps == [
        (1, "begun"),
        (1, InputStatus.SUCCEEDED),
        (2, "begun"),
        (2, InputStatus.TIMEDOUT),
        (3, InputStatus.CANCELED),  # never begun
        (4, "begun"),
        (4, InputStatus.SUCCEEDED),  # in the child that replaced the killed one
    ]


def test_an_input_past_the_memory_limit_fails_and_the_next_one_runs() -> None:
    def claim(input_id: int) -> Claim:
        entry_point = Hog.model_version().entry_point
        return Claim(input_id, 1, "job", "hog", "hog", "1", entry_point, {}, {}, 1, "w", 30.0)

    runner = Runner(memory_limit_mib=400)
    outcomes: dict[int, Outcome] = {}
    try:
        tasks = [(claim(1), {"input": b"2000"}, None), (claim(2), {"input": b"50"}, None)]
        runner.run_many(tasks, lambda done, outcome: outcomes.__setitem__(done.input_id, outcome))
    finally:
        runner.close()
    assert outcomes[1].status is InputStatus.FAILED
    assert outcomes[1].error == "the model ran out of memory (the limit is 400 MiB per input)"
    assert outcomes[2].status is InputStatus.SUCCEEDED
    assert outcomes[2].outputs == {"bytes": 50 * 1024 * 1024}
    assert outcomes[2].peak_memory_kib >= 50 * 1024
