"""How jobs move: every change of an input's status applied to its job, and a job ended.

A job's counters and status change in the same transaction as the inputs that move them
(``apply_moves``), so the counters always add up to the total and the status always agrees.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    bindparam,
    or_,
    select,
    update,
)

from jobline.domain.records import JobResult, OutputFile
from jobline.domain.status import (
    COUNTER_OF,
    Counters,
    InputStatus,
    JobStatus,
    derive_job_status,
    stopped_by,
)
from jobline.store.bulk import among, any_of, insert_rows, update_rows
from jobline.store.jobs import add_event, counters_of, now
from jobline.store.pick import runnable
from jobline.store.tables import events, inputs, job_results, jobs


@dataclass
class JobDelta:
    """What a batch of input changes does to one job."""

    moves: list[tuple[InputStatus, InputStatus]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    result_bytes: int = 0
    started_at: datetime | None = None  # when the first of these inputs began, if any did


_COUNTERS = tuple(COUNTER_OF.values())


# What ``apply_moves`` reads of each job (not its JSON args and labels, nor its names).
_MOVED_BY = (
    jobs.c.id,
    jobs.c.status,
    jobs.c.collect_state,
    jobs.c.submitted_at,
    jobs.c.total,
    *(jobs.c[name] for name in _COUNTERS),
    jobs.c.started_at,
    jobs.c.queue_seconds,
    jobs.c.finished_at,
    jobs.c.elapsed_seconds,
    jobs.c.cpu_seconds,
    jobs.c.result_bytes,
)


def apply_moves(
    conn: Connection,
    deltas: dict[int, JobDelta],
    *,
    actor: str,
    reason: str = "",
) -> list[int]:
    """Apply input status changes (already written to ``inputs``) to their jobs.

    Adjusts each job's counters, CPU time and result size, derives its status and, where the
    status changes, records the timestamps, the times and an event. The first input that
    began (``JobDelta.started_at``) starts the job's clock. Jobs are locked in serial order, so
    concurrent batches never wait on each other in a circle. Returns the jobs whose inputs
    have all ended and that now wait for their model's collect step.
    """
    if not deltas:
        return []
    at = now()
    collecting: list[int] = []
    changes, new_events = [], []
    for row in conn.execute(_moved(conn.dialect.name), {"ids": list(deltas)}):
        delta = deltas[row.id]
        counters = counters_of(row)
        for old, new in delta.moves:
            counters = counters.moved(old, new)
        old_status = JobStatus(row.status)
        new_status = derive_job_status(old_status, counters)
        if new_status is JobStatus.COMPLETED and row.collect_state == "pending":
            new_status = JobStatus.IN_PROGRESS  # not done before its results are collected
            collecting.append(row.id)
        changes.append(
            {
                "id": row.id,
                **{name: getattr(counters, name) for name in _COUNTERS},
                "cpu_seconds": row.cpu_seconds + delta.cpu_seconds,
                "result_bytes": row.result_bytes + delta.result_bytes,
                **_times(row, new_status, at, delta.started_at),
            }
        )
        if new_status is not old_status:
            new_events.append(
                {
                    "job_id": row.id,
                    "at": at,
                    "actor": actor,
                    "from_status": old_status.value,
                    "to_status": new_status.value,
                    "reason": reason or _default_reason(counters),
                }
            )
    update_rows(conn, jobs, changes, same={"updated_at": at})
    insert_rows(conn, events, new_events)
    return collecting


@cache
def _moved(dialect: str) -> Select[Any]:
    """Jobs ``ids`` as ``apply_moves`` reads them, locked in serial order."""
    return (
        select(*_MOVED_BY)
        .where(any_of(dialect, jobs.c.id, "ids"))
        .order_by(jobs.c.id)
        .with_for_update(of=jobs)
    )


def _times(
    row: Row[Any], status: JobStatus, at: datetime, started: datetime | None
) -> dict[str, Any]:
    """The status and clock columns of a job moving to ``status``, whose inputs began at
    ``started`` (None: none did)."""
    started_at, queue_seconds = row.started_at, row.queue_seconds
    if started is not None and started_at is None:
        # Within [submitted, now]: a remote worker's clock may differ a little from ours.
        started_at = min(max(started, row.submitted_at), at)
        queue_seconds = (started_at - row.submitted_at).total_seconds()
    finished_at, elapsed_seconds = row.finished_at, row.elapsed_seconds
    if status.terminal and status.value != row.status:
        finished_at = at
        elapsed_seconds = (at - (started_at or row.submitted_at)).total_seconds()
    return {
        "status": status.value,
        "started_at": started_at,
        "queue_seconds": queue_seconds,
        "finished_at": finished_at,
        "elapsed_seconds": elapsed_seconds,
    }


def _ending(row: Row[Any], status: JobStatus, at: datetime) -> dict[str, Any]:
    if not status.terminal:
        return {}
    started = row.started_at or row.submitted_at
    return {"finished_at": at, "elapsed_seconds": (at - started).total_seconds()}


def _default_reason(counters: Counters) -> str:
    return (
        f"{counters.succeeded} succeeded, {counters.failed} failed, "
        f"{counters.canceled} canceled, {counters.timed_out} timed out of {counters.total}"
    )


def end_job(
    conn: Connection, job_id: int, status: JobStatus, *, actor: str, reason: str
) -> JobStatus:
    """End a job as a whole (canceled, timed out): its queued inputs end with it.

    Queued inputs that a worker holds end too (the worker hears of it at its next heartbeat;
    its report is refused). Inputs already running keep running and are counted under
    ``status`` when they report (or when their lease expires). A job that has ended already
    is left as it is; returns the job's status either way.
    """
    input_status = stopped_by(status)
    at = now()
    # Inputs before the job row: claims and completions lock in that order too. Held inputs
    # that a worker's transaction has locked are skipped, not waited for: that transaction may
    # wait for the job row next, and it ends them itself (a completion sees the job ended).
    held = conn.execute(
        select(inputs.c.id)
        .where(
            inputs.c.job_id == job_id,
            inputs.c.status == InputStatus.QUEUED.value,
            inputs.c.lease_owner.is_not(None),
        )
        .with_for_update(skip_locked=True)
    ).scalars()
    queued = conn.execute(
        update(inputs)
        .where(
            inputs.c.job_id == job_id,
            inputs.c.status == InputStatus.QUEUED.value,
            or_(inputs.c.lease_owner.is_(None), among(conn, inputs.c.id, list(held))),
        )
        .values(
            status=input_status.value,
            finished_at=at,
            error=reason,
            lease_owner=None,
            lease_expires_at=None,
        )
    ).rowcount
    row = conn.execute(select(jobs).where(jobs.c.id == job_id).with_for_update()).one()
    old_status = JobStatus(row.status)
    if old_status.terminal:
        return old_status
    counter = COUNTER_OF[input_status]
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            {
                "status": status.value,
                "message": reason,
                "queued": jobs.c.queued - queued,
                counter: getattr(jobs.c, counter) + queued,
                "updated_at": at,
                **_ending(row, status, at),
            }
        )
    )
    add_event(conn, job_id, actor, old_status, status, reason, at)
    return status


def finish_collect(
    conn: Connection, job_id: int, outputs: dict[str, Any], files: list[OutputFile], error: str
) -> bool:
    """End a job that waited for its collect step; False if it was not waiting any more."""
    row = conn.execute(select(jobs).where(jobs.c.id == job_id).with_for_update()).one()
    if row.collect_state != "pending" or JobStatus(row.status).terminal:
        return False
    conn.execute(
        job_results.insert().values(
            job_id=job_id,
            outputs=outputs,
            files=[asdict(f) for f in files],
            error=error,
        )
    )
    status = JobStatus.ERROR if error else JobStatus.COMPLETED
    at = now()
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            status=status.value,
            collect_state="failed" if error else "done",
            message=error or "results collected",
            result_bytes=jobs.c.result_bytes + sum(f.size for f in files),
            updated_at=at,
            **_ending(row, status, at),
        )
    )
    reason = f"collecting the results failed: {error}" if error else "results collected"
    add_event(conn, job_id, "collect", JobStatus(row.status), status, reason, at)
    return True


def get_result(conn: Connection, job_id: int) -> JobResult | None:
    row = conn.execute(select(job_results).where(job_results.c.job_id == job_id)).first()
    if row is None:
        return None
    files = tuple(OutputFile(**f) for f in row.files)
    return JobResult(outputs=dict(row.outputs), files=files, error=row.error)


def waiting_for_collect(conn: Connection, older_than: datetime) -> list[int]:
    """Jobs whose collect step should have run by now (its runner died before it could)."""
    rows = conn.execute(
        select(jobs.c.id).where(
            jobs.c.collect_state == "pending",
            jobs.c.status == JobStatus.IN_PROGRESS.value,
            jobs.c.queued + jobs.c.running == 0,
            jobs.c.updated_at < older_than,
        )
    )
    return list(rows.scalars())


def end_overdue(conn: Connection) -> int:
    """End the pending jobs that ran past their deadline as TIMEDOUT; returns how many."""
    overdue = conn.execute(_overdue(), {"now": now()}).all()
    for row in overdue:
        limit = (row.deadline_at - row.submitted_at).total_seconds()
        reason = f"the job ran past its timeout of {limit:g} s"
        end_job(conn, row.id, JobStatus.TIMEDOUT, actor="timeout", reason=reason)
    return len(overdue)


@cache
def _overdue() -> Select[Any]:
    """The pending jobs whose deadline is before ``now``."""
    return select(jobs.c.id, jobs.c.deadline_at, jobs.c.submitted_at).where(
        runnable(),  # in the statement's text: the plan made once then uses ix_jobs_deadline
        jobs.c.deadline_at < bindparam("now", type_=jobs.c.deadline_at.type),
    )
