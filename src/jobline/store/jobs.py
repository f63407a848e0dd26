"""Jobs, their inputs and events: creation, reads, and every change of an input's status.

A job's counters and status change in the same transaction as the input that moves them
(``move_inputs``), so the counters always add up to the total and the status always agrees.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, bindparam, select, update

from jobline.domain.records import Event, Input, Job, OutputFile, Principal, Role
from jobline.domain.status import (
    COUNTER_OF,
    Counters,
    InputStatus,
    JobStatus,
    derive_job_status,
)
from jobline.store.tables import (
    NEVER,
    NO_KEY,
    NOT_YET,
    accounts,
    events,
    inputs,
    jobs,
    models,
    users,
)


@dataclass(frozen=True, slots=True)
class NewInput:
    source: str
    parts: dict[str, str]  # input name -> blob key
    size: int


@dataclass(frozen=True, slots=True)
class NewJob:
    identifier: str
    name: str
    description: str
    account_id: int
    user_id: int
    username: str
    key_prefix: str | None
    model_id: int
    model_identifier: str
    model_version: str
    explain: bool
    timeout_seconds: float | None
    args: dict[str, Any]
    labels: tuple[str, ...]
    inputs: tuple[NewInput, ...]
    status: JobStatus = JobStatus.SUBMITTED


def now() -> datetime:
    return datetime.now(UTC)


def new_identifier() -> str:
    return str(uuid.uuid4())


def insert_job(conn: Connection, new: NewJob, actor: str) -> int:
    """Insert a job with all its inputs, queued; returns its serial."""
    at = now()
    count = len(new.inputs)
    job_id: int = conn.execute(
        jobs.insert()
        .values(
            identifier=new.identifier,
            name=new.name,
            description=new.description,
            account_id=new.account_id,
            user_id=new.user_id,
            username=new.username,
            key_prefix=new.key_prefix or NO_KEY,
            model_id=new.model_id,
            model_identifier=new.model_identifier,
            model_version=new.model_version,
            explain=new.explain,
            timeout_seconds=new.timeout_seconds,
            args=new.args,
            labels=list(new.labels),
            status=new.status.value,
            total=count,
            queued=count,
            created_at=at,
            submitted_at=at,
            updated_at=at,
            submission_bytes=sum(i.size for i in new.inputs),
        )
        .returning(jobs.c.id)
    ).scalar_one()
    if new.inputs:
        conn.execute(
            inputs.insert(),
            [
                {
                    "job_id": job_id,
                    "source": item.source,
                    "position": position,
                    "status": InputStatus.QUEUED.value,
                    "model_identifier": new.model_identifier,
                    "parts": item.parts,
                    "queued_at": at,
                    "outputs": {},
                    "files": [],
                }
                for position, item in enumerate(new.inputs)
            ],
        )
    add_event(conn, job_id, actor, None, new.status, "job created", at)
    return job_id


def add_event(
    conn: Connection,
    job_id: int,
    actor: str,
    from_status: JobStatus | None,
    to_status: JobStatus,
    reason: str,
    at: datetime | None = None,
) -> None:
    conn.execute(
        events.insert().values(
            job_id=job_id,
            at=at or now(),
            actor=actor,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value,
            reason=reason,
        )
    )


def job_select() -> Select[Any]:
    """The columns a Job record is built from (jobs with their model's name and user's id)."""
    return (
        select(
            jobs,
            models.c.name.label("model_name"),
            users.c.identifier.label("user_identifier"),
            accounts.c.identifier.label("account_identifier"),
        )
        .join(models, models.c.id == jobs.c.model_id)
        .join(users, users.c.id == jobs.c.user_id)
        .join(accounts, accounts.c.id == jobs.c.account_id)
    )


def get_job(conn: Connection, ref: str | int, principal: Principal | None = None) -> Job | None:
    """A job by UUID or serial number, if ``principal`` (None: the system) may see it."""
    query = job_select()
    visibility = visible_to(principal) if principal is not None else None
    if visibility is not None:
        query = query.where(visibility)
    if isinstance(ref, int) or ref.isdigit():
        query = query.where(jobs.c.id == int(ref))
    else:
        query = query.where(jobs.c.identifier == ref.lower())
    row = conn.execute(query).first()
    return None if row is None else job_record(row)


def visible_to(principal: Principal) -> ColumnElement[bool] | None:
    """The jobs a caller may see: its own (member), its account's (manager), all (admin)."""
    user = principal.user
    if user.role is Role.ADMIN:
        return None
    if user.role is Role.MANAGER:
        return jobs.c.account_id == user.account_id
    return jobs.c.user_id == user.id


def job_record(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        identifier=row.identifier,
        name=row.name,
        description=row.description,
        model_identifier=row.model_identifier,
        model_name=row.model_name,
        model_version=row.model_version,
        account_identifier=row.account_identifier,
        user_identifier=row.user_identifier,
        username=row.username,
        key_prefix=row.key_prefix or None,
        explain=row.explain,
        timeout_seconds=row.timeout_seconds,
        args=row.args,
        labels=tuple(row.labels),
        status=JobStatus(row.status),
        message=row.message,
        counters=_counters(row),
        created_at=row.created_at,
        submitted_at=row.submitted_at,
        started_at=row.started_at,
        finished_at=None if row.finished_at == NEVER else row.finished_at,
        updated_at=row.updated_at,
        queue_seconds=None if row.queue_seconds == NOT_YET else row.queue_seconds,
        elapsed_seconds=None if row.elapsed_seconds == NOT_YET else row.elapsed_seconds,
        cpu_seconds=row.cpu_seconds,
        submission_bytes=row.submission_bytes,
        result_bytes=row.result_bytes,
    )


def _counters(row: Row[Any]) -> Counters:
    return Counters(
        total=row.total,
        queued=row.queued,
        running=row.running,
        succeeded=row.succeeded,
        failed=row.failed,
        canceled=row.canceled,
        timed_out=row.timed_out,
    )


def list_inputs(conn: Connection, job_id: int) -> list[Input]:
    rows = conn.execute(select(inputs).where(inputs.c.job_id == job_id).order_by(inputs.c.position))
    return [input_record(row) for row in rows]


def get_input(conn: Connection, input_id: int) -> Input | None:
    row = conn.execute(select(inputs).where(inputs.c.id == input_id)).first()
    return None if row is None else input_record(row)


def input_record(row: Row[Any]) -> Input:
    return Input(
        id=row.id,
        job_id=row.job_id,
        source=row.source,
        position=row.position,
        status=InputStatus(row.status),
        parts=dict(row.parts),
        attempts=row.attempts,
        queued_at=row.queued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        cpu_seconds=row.cpu_seconds,
        peak_memory_kib=row.peak_memory_kib,
        outputs=dict(row.outputs),
        files=tuple(OutputFile(**f) for f in row.files),
        error=row.error,
    )


def list_events(conn: Connection, job_id: int) -> list[Event]:
    rows = conn.execute(select(events).where(events.c.job_id == job_id).order_by(events.c.id))
    return [
        Event(
            id=r.id,
            job_id=r.job_id,
            at=r.at,
            actor=r.actor,
            from_status=r.from_status,
            to_status=r.to_status,
            reason=r.reason,
        )
        for r in rows
    ]


@dataclass
class JobDelta:
    """What a batch of input changes does to one job."""

    moves: list[tuple[InputStatus, InputStatus]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    result_bytes: int = 0


_COUNTERS = tuple(COUNTER_OF.values())
# Prepared once and executed with one parameter set per job: a batch of changes costs the
# same three statements (lock, update, events) whether it touches one job or a thousand.
_UPDATE_JOB = (
    update(jobs)
    .where(jobs.c.id == bindparam("job"))
    .values(
        {
            **{name: bindparam(f"new_{name}") for name in _COUNTERS},
            "status": bindparam("new_status"),
            "started_at": bindparam("new_started_at"),
            "queue_seconds": bindparam("new_queue_seconds"),
            "finished_at": bindparam("new_finished_at"),
            "elapsed_seconds": bindparam("new_elapsed_seconds"),
            "cpu_seconds": bindparam("new_cpu_seconds"),
            "result_bytes": bindparam("new_result_bytes"),
            "updated_at": bindparam("at"),
        }
    )
)


def apply_moves(
    conn: Connection,
    deltas: dict[int, JobDelta],
    *,
    actor: str,
    reason: str = "",
    started: bool = False,
) -> None:
    """Apply input status changes (already written to ``inputs``) to their jobs.

    Adjusts each job's counters, CPU time and result size, derives its status and, where the
    status changes, records the timestamps, the times and an event. ``started`` marks inputs
    that began running, which starts the job's clock. Jobs are locked in serial order, so
    concurrent batches never wait on each other in a circle.
    """
    if not deltas:
        return
    at = now()
    changes, new_events = [], []
    locked = select(jobs).where(jobs.c.id.in_(list(deltas))).order_by(jobs.c.id).with_for_update()
    for row in conn.execute(locked):
        delta = deltas[row.id]
        counters = _counters(row)
        for old, new in delta.moves:
            counters = counters.moved(old, new)
        old_status = JobStatus(row.status)
        new_status = derive_job_status(old_status, counters)
        changes.append(
            {
                "job": row.id,
                "at": at,
                **{f"new_{name}": getattr(counters, name) for name in _COUNTERS},
                "new_cpu_seconds": row.cpu_seconds + delta.cpu_seconds,
                "new_result_bytes": row.result_bytes + delta.result_bytes,
                **_times(row, new_status, at, started),
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
    conn.execute(_UPDATE_JOB, changes)
    if new_events:
        conn.execute(events.insert(), new_events)


def _times(row: Row[Any], status: JobStatus, at: datetime, started: bool) -> dict[str, Any]:
    """The status and clock columns of ``_UPDATE_JOB`` for a job moving to ``status``."""
    started_at, queue_seconds = row.started_at, row.queue_seconds
    if started and started_at is None:
        started_at, queue_seconds = at, (at - row.submitted_at).total_seconds()
    finished_at, elapsed_seconds = row.finished_at, row.elapsed_seconds
    if status.terminal and status.value != row.status:
        finished_at = at
        elapsed_seconds = (at - (started_at or row.submitted_at)).total_seconds()
    return {
        "new_status": status.value,
        "new_started_at": started_at,
        "new_queue_seconds": queue_seconds,
        "new_finished_at": finished_at,
        "new_elapsed_seconds": elapsed_seconds,
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

    Inputs already running keep running and are counted under ``status`` when they report.
    A job that has ended already is left as it is; returns the job's status either way.
    """
    input_status = InputStatus.TIMEDOUT if status is JobStatus.TIMEDOUT else InputStatus.CANCELED
    at = now()
    # Inputs before the job row: claims and completions lock in that order too, so the
    # two can never wait on each other (a terminal job has no queued inputs to touch).
    queued = conn.execute(
        update(inputs)
        .where(inputs.c.job_id == job_id, inputs.c.status == InputStatus.QUEUED.value)
        .values(status=input_status.value, finished_at=at, error=reason)
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


def lock_for_upload(
    conn: Connection, job_id: int, source: str | None = None
) -> tuple[Job, list[Input]]:
    """A job and its inputs (those of ``source``, or all), locked until the transaction ends.

    Inputs are locked before the job row, the order claims, completions and cancels lock in,
    so adding inputs to an OPEN job never deadlocks with canceling it.
    """
    query = select(inputs).where(inputs.c.job_id == job_id)
    if source is not None:
        query = query.where(inputs.c.source == source)
    rows = conn.execute(query.order_by(inputs.c.position).with_for_update()).all()
    job = conn.execute(job_select().where(jobs.c.id == job_id).with_for_update(of=jobs)).one()
    return job_record(job), [input_record(row) for row in rows]


def put_input_part(
    conn: Connection,
    job: Job,
    source: str,
    name: str,
    blob_key: str,
    *,
    existing: Input | None,
    added_bytes: int,
) -> None:
    """Point one part of an OPEN job's input at ``blob_key``, adding the input when new.

    The caller holds the locks of ``lock_for_upload``. A new input is queued and counted
    (total and queued) in this transaction; it runs once the job is closed.
    """
    at = now()
    counted: dict[str, Any] = {}
    if existing is None:
        conn.execute(
            inputs.insert().values(
                job_id=job.id,
                source=source,
                position=job.counters.total,
                status=InputStatus.QUEUED.value,
                model_identifier=job.model_identifier,
                parts={name: blob_key},
                queued_at=at,
                outputs={},
                files=[],
            )
        )
        counted = {"total": jobs.c.total + 1, "queued": jobs.c.queued + 1}
    else:
        conn.execute(
            update(inputs)
            .where(inputs.c.id == existing.id)
            .values(parts={**existing.parts, name: blob_key})
        )
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job.id)
        .values(
            submission_bytes=jobs.c.submission_bytes + added_bytes,
            updated_at=at,
            **counted,
        )
    )


def submit_open_job(conn: Connection, job_id: int, *, actor: str, reason: str) -> None:
    """Turn an OPEN job (locked by ``lock_for_upload``) into a SUBMITTED one, queued from now.

    Its submission time and its inputs' queue times become now, so queue times count from
    when the job could run, not from when its upload began.
    """
    at = now()
    conn.execute(update(inputs).where(inputs.c.job_id == job_id).values(queued_at=at))
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(status=JobStatus.SUBMITTED.value, submitted_at=at, updated_at=at)
    )
    add_event(conn, job_id, actor, JobStatus.OPEN, JobStatus.SUBMITTED, reason, at)
