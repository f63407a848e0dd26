"""The work queue: claiming queued inputs under a lease, and recording how they ended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, bindparam, select, update
from sqlalchemy.sql.dml import Update

from jobline.domain.records import OutputFile
from jobline.domain.status import InputStatus, JobStatus, stopped_by
from jobline.domain.work import Claim, Outcome
from jobline.store.bulk import any_of, update_rows
from jobline.store.jobs import now
from jobline.store.pick import fair_pick
from jobline.store.progress import JobDelta, apply_moves
from jobline.store.tables import inputs, jobs, model_versions

# The statuses of an input that a worker may hold a lease on: QUEUED from its claim until the
# worker reports that it began (or ended) it, then RUNNING.
LEASED = (InputStatus.QUEUED.value, InputStatus.RUNNING.value)


def claim(
    conn: Connection,
    *,
    worker: str,
    models_served: Sequence[str] | None,
    limit: int,
    lease_seconds: float,
) -> list[Claim]:
    """Lease up to ``limit`` queued inputs of jobs that may run, fairly across users.

    A leased input stays QUEUED, and counts as queued in its job, until its worker reports it
    begun (``heartbeat``) or ended (``complete``): a claim writes the inputs, not their jobs.
    On PostgreSQL concurrent claimers skip each other's rows (``FOR UPDATE SKIP LOCKED``);
    on SQLite the write transaction already excludes other writers.
    """
    picked = fair_pick(conn, models_served, limit)
    if not picked:
        return []
    lease = {
        "ids": [row.id for row in picked],
        "owner": worker,
        "expires": now() + timedelta(seconds=lease_seconds),
    }
    leased = conn.execute(_lease(conn.dialect.name), lease).all()
    order = {row.id: position for position, row in enumerate(picked)}
    return _claims(conn, sorted(leased, key=lambda row: order[row.id]))


@cache
def _lease(dialect: str) -> Update:
    """Lease inputs ``ids`` to worker ``owner`` until ``expires``."""
    return (
        update(inputs)
        .where(any_of(dialect, inputs.c.id, "ids"))
        .values(
            attempts=inputs.c.attempts + 1,
            lease_owner=bindparam("owner", type_=inputs.c.lease_owner.type),
            lease_expires_at=bindparam("expires", type_=inputs.c.lease_expires_at.type),
        )
        .returning(*_CLAIMED_INPUT)
    )


def heartbeat(
    conn: Connection,
    worker: str,
    input_ids: Sequence[int],
    lease_seconds: float,
    started: Sequence[int] = (),
) -> list[int]:
    """Extend ``worker``'s leases on these inputs, and mark those of ``started`` that it has
    begun to run RUNNING. Returns the ones it must stop running: its lease is gone (it
    expired and the input went back to the queue), or the job ended."""
    dialect = conn.dialect.name
    rows = conn.execute(_holders(dialect, lock=False), {"ids": list(input_ids)}).all()
    kept = [
        row.id
        for row in rows
        if row.status in LEASED
        and row.lease_owner == worker
        and not JobStatus(row.job_status).terminal
    ]
    if kept:
        expires = now() + timedelta(seconds=lease_seconds)
        conn.execute(_renew(dialect), {"ids": kept, "expires": expires})
        _start(conn, worker, sorted(set(started) & set(kept)))
    return sorted(set(input_ids) - set(kept))


@cache
def _holders(dialect: str, *, lock: bool) -> Select[Any]:
    """Inputs ``ids`` with who holds them and their job's status; ``lock``: locked."""
    holders = (
        select(
            inputs.c.id, inputs.c.status, inputs.c.lease_owner, jobs.c.status.label("job_status")
        )
        .join(jobs, jobs.c.id == inputs.c.job_id)
        .where(any_of(dialect, inputs.c.id, "ids"))
    )
    return holders.with_for_update(of=inputs) if lock else holders


@cache
def _renew(dialect: str) -> Update:
    """The leases of inputs ``ids`` last until ``expires``."""
    expires = bindparam("expires", type_=inputs.c.lease_expires_at.type)
    return (
        update(inputs).where(any_of(dialect, inputs.c.id, "ids")).values(lease_expires_at=expires)
    )


def _start(conn: Connection, worker: str, input_ids: Sequence[int]) -> None:
    """Inputs held by ``worker`` that it has begun to run: RUNNING, and running in their
    jobs' counters (which starts a job's clock, and moves it IN_PROGRESS)."""
    if not input_ids:
        return
    at = now()
    begun = conn.execute(
        _begin(conn.dialect.name), {"ids": list(input_ids), "owner": worker, "at": at}
    ).scalars()
    deltas: dict[int, JobDelta] = {}
    for job_id in begun:
        deltas.setdefault(job_id, JobDelta(started_at=at)).moves.append(
            (InputStatus.QUEUED, InputStatus.RUNNING)
        )
    apply_moves(conn, deltas, actor=worker, reason="work started")


@cache
def _begin(dialect: str) -> Update:
    """Inputs ``ids`` that worker ``owner`` holds queued are RUNNING since ``at``."""
    return (
        update(inputs)
        .where(
            any_of(dialect, inputs.c.id, "ids"),
            inputs.c.status == InputStatus.QUEUED.value,
            inputs.c.lease_owner == bindparam("owner", type_=inputs.c.lease_owner.type),
        )
        .values(
            status=InputStatus.RUNNING.value,
            started_at=bindparam("at", type_=inputs.c.started_at.type),
        )
        .returning(inputs.c.job_id)
    )


def requeue_expired(conn: Connection, *, max_attempts: int) -> list[int]:
    """Inputs whose worker stopped renewing its lease go back to the queue, or, after
    ``max_attempts`` runs, fail with the reason; those of a job that ended meanwhile end with
    it. Returns the jobs that now wait for their model's collect step (their last input just
    failed this way)."""
    expired = conn.execute(
        select(
            inputs.c.id,
            inputs.c.job_id,
            inputs.c.status,
            inputs.c.attempts,
            inputs.c.lease_owner,
            jobs.c.status.label("job_status"),
        )
        .join(jobs, jobs.c.id == inputs.c.job_id)
        .where(inputs.c.lease_owner.is_not(None), inputs.c.lease_expires_at < now())
        .with_for_update(of=inputs, skip_locked=True)
    ).all()
    deltas: dict[int, JobDelta] = {}
    at = now()
    for row in expired:
        new, error = _after_expiry(
            JobStatus(row.job_status), row.attempts, row.lease_owner, max_attempts
        )
        values: dict[str, Any] = {
            "status": new.value,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if new.terminal:
            values.update(finished_at=at, error=error)
        conn.execute(update(inputs).where(inputs.c.id == row.id).values(**values))
        if new.value != row.status:
            deltas.setdefault(row.job_id, JobDelta()).moves.append((InputStatus(row.status), new))
    return apply_moves(conn, deltas, actor="lease expiry", reason="a worker's lease expired")


def _after_expiry(
    job_status: JobStatus, attempts: int, lease_owner: str, max_attempts: int
) -> tuple[InputStatus, str]:
    """What becomes of an input whose lease expired, and the error it ends with."""
    if job_status.terminal:
        return stopped_by(job_status), f"the job was {job_status.value.lower()}"
    if attempts >= max_attempts:
        error = (
            f"its worker vanished during each of {attempts} attempts "
            f"(last: {lease_owner}); giving up"
        )
        return InputStatus.FAILED, error
    return InputStatus.QUEUED, ""


# What a claim hands out of an input, and of its job and model version (read apart: one
# query over all three tables was planned from the job's inputs on a table without statistics,
# reading all of a big job's inputs for every claim). The job's own timeout wins over the
# version's.
_CLAIMED_INPUT: tuple[ColumnElement[Any], ...] = (
    inputs.c.id,
    inputs.c.job_id,
    inputs.c.source,
    inputs.c.parts,
    inputs.c.attempts,
    inputs.c.lease_owner,
)
_CLAIMED_JOB: tuple[ColumnElement[Any], ...] = (
    jobs.c.id,
    jobs.c.identifier,
    jobs.c.model_identifier,
    jobs.c.model_version,
    jobs.c.args,
    jobs.c.timeout_seconds.label("job_timeout"),
    model_versions.c.entry_point,
    model_versions.c.timeout_seconds,
)


def _claims(conn: Connection, leased: Sequence[Row[Any]]) -> list[Claim]:
    """The claims of ``leased`` inputs (rows of ``_CLAIMED_INPUT``), in their order."""
    job_ids = sorted({row.job_id for row in leased})
    job_of: dict[int, Row[Any]] = {}
    if job_ids:
        claimed_jobs = conn.execute(_claimed_jobs(conn.dialect.name), {"ids": job_ids})
        job_of = {row.id: row for row in claimed_jobs}
    return [_claim(row, job_of[row.job_id]) for row in leased]


@cache
def _claimed_jobs(dialect: str) -> Select[Any]:
    """What a claim hands out of jobs ``ids``."""
    return select(*_CLAIMED_JOB).where(
        any_of(dialect, jobs.c.id, "ids"),
        model_versions.c.model_id == jobs.c.model_id,
        model_versions.c.version == jobs.c.model_version,
    )


def _claim(row: Row[Any], job: Row[Any]) -> Claim:
    return Claim(
        input_id=row.id,
        job_id=row.job_id,
        job_identifier=job.identifier,
        source=row.source,
        model_identifier=job.model_identifier,
        model_version=job.model_version,
        entry_point=job.entry_point,
        parts=dict(row.parts),
        args=dict(job.args),
        attempt=row.attempts,
        lease_owner=row.lease_owner,
        timeout_seconds=job.job_timeout or job.timeout_seconds,
    )


def complete(
    conn: Connection, finished: Sequence[tuple[Claim, Outcome, Sequence[OutputFile]]]
) -> tuple[list[bool], list[int]]:
    """Record how claimed inputs ended; False (and nothing changes) where the lease is gone.

    A result that arrives after its job was canceled or timed out is kept out: the input ends
    with the job's status instead, so the job's counters still add up. Also returns the jobs
    that now wait for their model's collect step.
    """
    ids = [claim.input_id for claim, _, _ in finished]
    rows = {
        row.id: row for row in conn.execute(_holders(conn.dialect.name, lock=True), {"ids": ids})
    }
    accepted: list[bool] = []
    changes: list[dict[str, Any]] = []
    deltas: dict[int, JobDelta] = {}
    for claim, outcome, files in finished:
        row = rows.get(claim.input_id)
        if row is None or row.status not in LEASED or row.lease_owner != claim.lease_owner:
            accepted.append(False)
            continue
        accepted.append(True)
        status, values = _ending_values(outcome, files, JobStatus(row.job_status))
        changes.append({"id": claim.input_id, **values})
        delta = deltas.setdefault(claim.job_id, JobDelta())
        delta.moves.append((InputStatus(row.status), status))
        delta.started_at = min(delta.started_at or outcome.started_at, outcome.started_at)
        delta.cpu_seconds += outcome.cpu_seconds
        delta.result_bytes += sum(f.size for f in files) if status is outcome.status else 0
    update_rows(conn, inputs, changes)
    collecting = apply_moves(conn, deltas, actor=finished[0][0].lease_owner)
    return accepted, collecting


def _ending_values(
    outcome: Outcome, files: Sequence[OutputFile], job_status: JobStatus
) -> tuple[InputStatus, dict[str, Any]]:
    values: dict[str, Any] = {
        "status": outcome.status.value,
        "finished_at": outcome.finished_at,
        "started_at": outcome.started_at,
        "cpu_seconds": outcome.cpu_seconds,
        "lease_owner": None,
        "lease_expires_at": None,
        "outputs": outcome.outputs,
        "files": [
            {"name": f.name, "blob_key": f.blob_key, "size": f.size, "media_type": f.media_type}
            for f in files
        ],
        "error": outcome.error,
        "peak_memory_kib": outcome.peak_memory_kib,
    }
    if job_status in (JobStatus.CANCELED, JobStatus.TIMEDOUT):
        status = stopped_by(job_status)
        values.update(
            status=status.value,
            outputs={},
            files=[],
            error=f"the job was {job_status.value.lower()}",
        )
        return status, values
    return outcome.status, values


def held_claims(conn: Connection, worker: str, input_ids: Sequence[int]) -> list[Claim]:
    """The claims among ``input_ids`` that ``worker`` still runs under its lease, as they were
    handed out: what a remote worker's report is checked against."""
    held = conn.execute(_held(conn.dialect.name), {"ids": list(input_ids), "owner": worker})
    return _claims(conn, held.all())


@cache
def _held(dialect: str) -> Select[Any]:
    """Inputs ``ids`` that worker ``owner`` holds, as a claim hands them out, in order."""
    return (
        select(*_CLAIMED_INPUT)
        .where(
            any_of(dialect, inputs.c.id, "ids"),
            inputs.c.status.in_(LEASED),
            inputs.c.lease_owner == bindparam("owner", type_=inputs.c.lease_owner.type),
        )
        .order_by(inputs.c.id)
    )
