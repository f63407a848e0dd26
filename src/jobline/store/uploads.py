"""Building an OPEN job input by input (uploads), then submitting it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from jobline.domain.records import Input, Job
from jobline.domain.status import InputStatus, JobStatus
from jobline.store.jobs import add_event, input_record, job_record, job_select, now
from jobline.store.tables import inputs, jobs


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
