"""Jobs, their inputs and events: creation, records, reads, and who may see what.

How they change afterwards is in ``store.progress`` (and ``store.uploads`` for OPEN jobs).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, String, bindparam, select
from sqlalchemy.sql.dml import Insert

from jobline.domain.records import Event, Input, Job, OutputFile, Principal, Role
from jobline.domain.status import (
    Counters,
    InputStatus,
    JobStatus,
)
from jobline.store.bulk import insert_rows
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
    model_name: str
    model_version: str
    account_identifier: str
    user_identifier: str
    explain: bool
    timeout_seconds: float | None
    args: dict[str, Any]
    labels: tuple[str, ...]
    inputs: tuple[NewInput, ...]
    status: JobStatus = JobStatus.SUBMITTED
    collects: bool = False  # the model merges the results once every input ended
    job_timeout_seconds: float | None = None  # the whole job's, counted from submission


def now() -> datetime:
    return datetime.now(UTC)


def new_identifier() -> str:
    return str(uuid.uuid4())


def insert_job(conn: Connection, new: NewJob, actor: str) -> Job:
    """Insert a job with all its inputs, queued; returns it as stored."""
    at = now()
    count = len(new.inputs)
    values = {
        "identifier": new.identifier,
        "name": new.name,
        "description": new.description,
        "account_id": new.account_id,
        "user_id": new.user_id,
        "username": new.username,
        "key_prefix": new.key_prefix or NO_KEY,
        "model_id": new.model_id,
        "model_identifier": new.model_identifier,
        "model_version": new.model_version,
        "explain": new.explain,
        "timeout_seconds": new.timeout_seconds,
        "args": new.args,
        "labels": list(new.labels),
        "status": new.status.value,
        "total": count,
        "queued": count,
        "created_at": at,
        "submitted_at": at,
        "updated_at": at,
        "submission_bytes": sum(i.size for i in new.inputs),
        "collect_state": "pending" if new.collects else "",
        "deadline_at": at + timedelta(seconds=new.job_timeout_seconds)
        if new.job_timeout_seconds
        else None,
    }
    known = {
        "known_model_name": new.model_name,
        "known_user_identifier": new.user_identifier,
        "known_account_identifier": new.account_identifier,
    }
    row = conn.execute(_insert_job(), values | known).one()
    job_id: int = row.id
    insert_rows(
        conn,
        inputs,
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
    return job_record(row)


@cache
def _insert_job() -> Insert:
    """Insert a job (its columns as parameters), returning it as ``job_select`` reads it: what
    that joins in is known already (parameters ``known_<name>``)."""
    return jobs.insert().returning(
        *jobs.c,
        *(
            bindparam(f"known_{name}", type_=String()).label(name)
            for name in ("model_name", "user_identifier", "account_identifier")
        ),
    )


def add_event(
    conn: Connection,
    job_id: int,
    actor: str,
    from_status: JobStatus | None,
    to_status: JobStatus,
    reason: str,
    at: datetime | None = None,
) -> None:
    event = {
        "job_id": job_id,
        "at": at or now(),
        "actor": actor,
        "from_status": from_status.value if from_status else None,
        "to_status": to_status.value,
        "reason": reason,
    }
    conn.execute(events.insert(), event)


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
        counters=counters_of(row),
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


def counters_of(row: Row[Any]) -> Counters:
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
