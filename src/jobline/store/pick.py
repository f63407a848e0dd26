"""Which queued inputs a claim takes: fairly across the users who wait (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from itertools import zip_longest
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, select

from jobline.domain.status import InputStatus, JobStatus
from jobline.store.bulk import any_of, fixed
from jobline.store.tables import inputs, jobs

RUNNABLE = (JobStatus.SUBMITTED.value, JobStatus.IN_PROGRESS.value)


def fair_pick(conn: Connection, models_served: Sequence[str] | None, limit: int) -> list[Any]:
    """Queued inputs to claim: round-robin across the users who wait, each user's oldest job
    first, so one user's huge job cannot starve another user's small one. What the users'
    shares leave of ``limit`` is filled oldest first."""
    served = models_served is not None
    models = {"models": list(models_served)} if models_served is not None else {}
    heads = list(conn.execute(_heads(served), models | {"limit": limit}).scalars())
    shares: list[list[Any]] = []
    for job_id in heads:
        quota = -(-limit // len(heads))
        shares.append(list(conn.execute(_share(), {"job_id": job_id, "quota": quota})))
    # Interleave the shares: each user's first input, then each user's second, and so on.
    picked = [row for turn in zip_longest(*shares) for row in turn if row is not None][:limit]
    if len(picked) < limit:
        taken = {"taken": [row.id for row in picked], "limit": limit - len(picked)}
        picked += conn.execute(_rest(conn.dialect.name, served), models | taken).all()
    return picked


# The claim's statements are built once (per database kind, and with or without a filter on
# the worker's models) and run with parameters: building one costs more than running it. The
# statuses and counts that the partial indexes of waiting jobs and queued inputs name are
# written into their text (``fixed``), so that PostgreSQL's plan made once uses those indexes.


def runnable() -> ColumnElement[bool]:
    """Jobs whose inputs may run, the statuses written into the statement's text."""
    return jobs.c.status.in_([fixed(status) for status in RUNNABLE])


def _waiting(served: bool) -> list[ColumnElement[bool]]:
    """Jobs with queued inputs that may run (of the worker's ``models``, if ``served``)."""
    waiting = [jobs.c.queued > fixed(0), runnable()]
    if served:
        waiting.append(jobs.c.model_identifier.in_(bindparam("models", expanding=True)))
    return waiting


def _queued(*where: ColumnElement[bool]) -> Select[Any]:
    """Queued inputs that no worker holds, in order, locked (skipping those being claimed)."""
    return (
        select(inputs.c.id, inputs.c.job_id)
        .where(inputs.c.status == fixed(InputStatus.QUEUED.value), inputs.c.lease_owner.is_(None))
        .where(*where)
        .order_by(inputs.c.id)
        .with_for_update(of=inputs, skip_locked=True)
    )


@cache
def _share() -> Select[Any]:
    """The first ``quota`` queued inputs of job ``job_id``."""
    return _queued(inputs.c.job_id == bindparam("job_id")).limit(bindparam("quota"))


@cache
def _rest(dialect: str, served: bool) -> Select[Any]:
    """Oldest job first, each job's inputs in order, not those ``taken``: a walk of the
    queued inputs' index that stops after ``limit``, whatever the planner believes of the
    tables' sizes."""
    rest = _queued(~any_of(dialect, inputs.c.id, "taken")).join(jobs, jobs.c.id == inputs.c.job_id)
    rest = rest.where(*_waiting(served)).order_by(None).order_by(inputs.c.job_id, inputs.c.id)
    return rest.limit(bindparam("limit"))


@cache
def _heads(served: bool) -> Select[Any]:
    """The oldest waiting job of each user who has one, oldest first, at most ``limit``.

    A skip scan: the recursive query steps from one user to the next through the partial
    index of waiting jobs, so its cost grows with the number of users waiting, not jobs.
    """
    waiting = _waiting(served)
    first = select(func.min(jobs.c.user_id).label("user_id")).where(*waiting)
    users_waiting = first.cte("users_waiting", recursive=True)
    following = select(func.min(jobs.c.user_id)).where(
        *waiting, jobs.c.user_id > users_waiting.c.user_id
    )
    users_waiting = users_waiting.union_all(
        select(following.scalar_subquery()).where(users_waiting.c.user_id.is_not(None))
    )
    oldest = (
        select(func.min(jobs.c.id))
        .where(*waiting, jobs.c.user_id == users_waiting.c.user_id)
        .scalar_subquery()
    )
    return (
        select(oldest.label("job_id"))
        .where(users_waiting.c.user_id.is_not(None))
        .order_by("job_id")
        .limit(bindparam("limit"))
    )
