"""What one user has used: jobs, inputs, CPU time and bytes, over all of its jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from jobline.store.tables import jobs


@dataclass(frozen=True, slots=True)
class Usage:
    jobs: int
    inputs: int
    cpu_seconds: float
    submission_bytes: int
    result_bytes: int
    latest_submission: datetime | None


def of_user(conn: Connection, user_id: int) -> Usage:
    """The totals of every job ``user_id`` submitted (one pass over its jobs' index range)."""
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(jobs.c.total), 0),
            func.coalesce(func.sum(jobs.c.cpu_seconds), 0.0),
            func.coalesce(func.sum(jobs.c.submission_bytes), 0),
            func.coalesce(func.sum(jobs.c.result_bytes), 0),
            func.max(jobs.c.submitted_at),
        ).where(jobs.c.user_id == user_id)
    ).one()
    return Usage(int(row[0]), int(row[1]), float(row[2]), int(row[3]), int(row[4]), row[5])
