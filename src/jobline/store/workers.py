"""The worker registry, and what a worker may see of the queue: its leased parts, whether
work waits for it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from jobline.domain.status import InputStatus
from jobline.domain.workers import WorkerInfo, WorkerRecord
from jobline.store.pick import RUNNABLE
from jobline.store.queue import LEASED
from jobline.store.tables import inputs, jobs, workers


def find(conn: Connection, name: str) -> WorkerRecord | None:
    """The registered worker of this name."""
    row = conn.execute(select(workers).where(workers.c.name == name)).one_or_none()
    return None if row is None else _record(row)


def save(
    conn: Connection, info: WorkerInfo, *, key_prefix: str, started_at: datetime, seen_at: datetime
) -> None:
    """Insert or update the row of ``info.name`` with what the worker reported."""
    values: dict[str, Any] = {
        "host": info.host,
        "pid": info.pid,
        "models": None if info.models is None else list(info.models),
        "slots": info.slots,
        "busy": info.busy,
        "key_prefix": key_prefix,
        "started_at": started_at,
        "last_heartbeat": seen_at,
    }
    changed = conn.execute(update(workers).where(workers.c.name == info.name).values(**values))
    if changed.rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(workers.insert().values(name=info.name, **values))
    except IntegrityError:
        # Another server node registered the same worker in between: update its row.
        conn.execute(update(workers).where(workers.c.name == info.name).values(**values))


def forget(conn: Connection, unseen_since: datetime) -> int:
    """Delete the rows of workers not heard from since ``unseen_since``; how many went."""
    return conn.execute(delete(workers).where(workers.c.last_heartbeat < unseen_since)).rowcount


def list_workers(conn: Connection) -> list[WorkerRecord]:
    """Every registered worker, by name."""
    return [_record(row) for row in conn.execute(select(workers).order_by(workers.c.name))]


def work_waiting(conn: Connection, models: Sequence[str] | None) -> bool:
    """Whether some job that may run has queued inputs of these models (None: any model)
    that no worker holds yet."""
    waiting = [
        inputs.c.status == InputStatus.QUEUED.value,
        inputs.c.lease_owner.is_(None),
        jobs.c.id == inputs.c.job_id,
        jobs.c.status.in_(RUNNABLE),
    ]
    if models is not None:
        waiting.append(inputs.c.model_identifier.in_(models))
    return bool(conn.execute(select(exists().where(*waiting))).scalar())


def leased_parts(conn: Connection, worker: str) -> set[str]:
    """The blob keys of the parts of every input ``worker`` runs under its lease."""
    rows = conn.execute(
        select(inputs.c.parts).where(inputs.c.status.in_(LEASED), inputs.c.lease_owner == worker)
    )
    return {key for (parts,) in rows for key in parts.values()}


def _record(row: Row[Any]) -> WorkerRecord:
    return WorkerRecord(
        name=row.name,
        host=row.host,
        pid=row.pid,
        models=None if row.models is None else tuple(row.models),
        slots=row.slots,
        busy=row.busy,
        key_prefix=row.key_prefix,
        started_at=row.started_at,
        last_heartbeat=row.last_heartbeat,
    )
