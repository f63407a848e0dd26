"""The store on both databases: one migration history, and counters that always add up."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from jobline.core import jobs, work
from jobline.core.jobs import Submission
from jobline.domain.records import Principal
from jobline.domain.status import InputStatus, JobStatus
from jobline.domain.work import Outcome
from jobline.store import Store, migrate
from jobline.store import jobs as job_store
from jobline.store.bulk import insert_rows, update_rows
from jobline.store.tables import events, inputs, metadata
from tests.conftest import MakeUser


def test_one_head_and_the_migrated_schema_matches_the_tables(store: Store) -> None:
    script = ScriptDirectory.from_config(migrate._config())
    assert len(script.get_heads()) == 1
    assert migrate.current(store.engine) == migrate.head()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def _principal(store: Store, make_user: MakeUser) -> Principal:
    user, _ = make_user("ann")
    return Principal(user=user, key_prefix=None)


def _counts_add_up(store: Store, ref: str) -> None:
    with store.read() as conn:
        job = job_store.get_job(conn, ref)
        assert job is not None
        items = job_store.list_inputs(conn, job.id)
    c = job.counters
    assert c.total == len(items) == c.queued + c.running + c.ended
    by_status = {s: sum(1 for i in items if i.status is s) for s in InputStatus}
    assert by_status[InputStatus.SUCCEEDED] == c.succeeded
    assert by_status[InputStatus.FAILED] == c.failed
    assert by_status[InputStatus.CANCELED] == c.canceled


def test_claim_and_complete_move_counters_with_the_inputs(
    store: Store, make_user: MakeUser
) -> None:
    caller = _principal(store, make_user)
    job = jobs.submit(
        store, caller, Submission("echo", {str(i): {"input": b"x"} for i in range(3)})
    )
    claims = work.claim(store, "w1", limit=2)
    assert [c.source for c in claims] == ["0", "1"]
    assert jobs.get(store, caller, job.id).status is JobStatus.SUBMITTED  # none begun yet
    work.heartbeat(store, "w1", [c.input_id for c in claims], started=[claims[0].input_id])
    assert jobs.get(store, caller, job.id).status is JobStatus.IN_PROGRESS
    _counts_add_up(store, job.identifier)
    outcome = Outcome(InputStatus.SUCCEEDED, _now(), _now())
    assert work.complete(store, [(claims[0], outcome)]) == [True]
    assert work.complete(store, [(claims[0], outcome)]) == [False]  # idempotent
    failed = Outcome(InputStatus.FAILED, _now(), _now(), error="boom")
    assert work.complete(store, [(claims[1], failed)]) == [True]
    _counts_add_up(store, job.identifier)
    last = work.claim(store, "w2", limit=5)
    assert [c.source for c in last] == ["2"]
    assert work.complete(store, [(last[0], outcome)]) == [True]
    done = jobs.get(store, caller, job.id)
    assert done.status is JobStatus.COMPLETED
    assert (done.counters.succeeded, done.counters.failed) == (2, 1)
    assert done.finished_at is not None and done.elapsed_seconds is not None
    _counts_add_up(store, job.identifier)


def test_a_result_from_a_lost_lease_is_ignored(store: Store, make_user: MakeUser) -> None:
    caller = _principal(store, make_user)
    jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
    (claim,) = work.claim(store, "w1")
    impostor = replace(claim, lease_owner="someone-else")
    outcome = Outcome(InputStatus.SUCCEEDED, _now(), _now())
    assert work.complete(store, [(impostor, outcome)]) == [False]
    assert work.complete(store, [(claim, outcome)]) == [True]


def test_running_inputs_of_a_canceled_job_end_canceled(store: Store, make_user: MakeUser) -> None:
    caller = _principal(store, make_user)
    job = jobs.submit(
        store, caller, Submission("echo", {"a": {"input": b"x"}, "b": {"input": b"y"}})
    )
    (running,) = work.claim(store, "w1")
    work.heartbeat(store, "w1", [running.input_id], started=[running.input_id])
    canceled = jobs.cancel(store, caller, job.identifier)
    assert canceled.status is JobStatus.CANCELED
    assert (canceled.counters.canceled, canceled.counters.running) == (1, 1)
    ok = Outcome(InputStatus.SUCCEEDED, _now(), _now())
    assert work.complete(store, [(running, ok)]) == [True]
    final = jobs.get(store, caller, job.identifier)
    assert final.status is JobStatus.CANCELED
    assert (final.counters.canceled, final.counters.succeeded, final.counters.running) == (2, 0, 0)
    _counts_add_up(store, job.identifier)


def _now() -> datetime:
    return datetime.now(UTC)


def test_rows_written_in_bulk_read_back_as_given(store: Store, make_user: MakeUser) -> None:
    caller = _principal(store, make_user)
    job = jobs.submit(
        store, caller, Submission("echo", {"a": {"input": b"x"}, "b": {"input": b"y"}})
    )
    at = datetime(2026, 12, 2, 21, 30, 1, 123456, tzinfo=UTC)
    reason = 'quotes " and \\ backslash, ünïcode, {"braces"}'
    outputs = {"nested": [1, 2.5, None, {"deep": "ü"}], "flag": True}
    with store.write() as conn:
        ids = conn.execute(select(inputs.c.id).where(inputs.c.job_id == job.id)).scalars().all()
        insert_rows(
            conn,
            events,
            [
                {
                    "job_id": job.id,
                    "at": at,
                    "actor": "bulk",
                    "from_status": None,
                    "to_status": "SUBMITTED",
                    "reason": reason,
                },
                {
                    "job_id": job.id,
                    "at": at,
                    "actor": "bulk",
                    "from_status": "SUBMITTED",
                    "to_status": "IN_PROGRESS",
                    "reason": "",
                },
            ],
        )
        update_rows(
            conn,
            inputs,
            [
                {"id": ids[0], "started_at": at, "cpu_seconds": 1e-06, "outputs": outputs},
                {"id": ids[1], "started_at": None, "cpu_seconds": 2.0, "outputs": {}},
            ],
            same={"error": reason},
        )
    with store.read() as conn:
        written = conn.execute(
            select(events.c.at, events.c.from_status, events.c.reason)
            .where(events.c.actor == "bulk")
            .order_by(events.c.id)
        ).all()
        rows = conn.execute(
            select(inputs.c.started_at, inputs.c.cpu_seconds, inputs.c.outputs, inputs.c.error)
            .where(inputs.c.job_id == job.id)
            .order_by(inputs.c.id)
        ).all()
    assert [tuple(row) for row in written] == [(at, None, reason), (at, "SUBMITTED", "")]
    assert [tuple(row) for row in rows] == [(at, 1e-06, outputs, reason), (None, 2.0, {}, reason)]


def test_a_naive_time_is_refused_in_bulk_too(store: Store, make_user: MakeUser) -> None:
    caller = _principal(store, make_user)
    job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
    naive = {"job_id": job.id, "at": datetime(2026, 12, 2), "actor": "bulk", "to_status": "X"}
    with pytest.raises((ValueError, StatementError)), store.write() as conn:
        insert_rows(conn, events, [naive | {"from_status": None, "reason": ""}])
