"""The SQL of retention: what a rule selects, summed up, and deleting it a batch at a time.

Every value is a bound parameter; the rule's time field picks a column from the history's own
whitelist (:data:`jobline.store.history.TIME_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, select

from jobline.domain.retention import RetentionGroup, RetentionReport, RetentionRule
from jobline.domain.status import JobStatus
from jobline.store.history import TIME_COLUMNS
from jobline.store.tables import accounts, events, inputs, jobs


def conditions(rule: RetentionRule, cutoff: datetime) -> list[ColumnElement[bool]]:
    """The WHERE clause that selects the rule's jobs: terminated, timestamp before ``cutoff``.

    A job without the chosen timestamp never matches: the store keeps an unfinished job's
    ``finished_at`` as a far-future stand-in (and NULL, were it kept, compares as unknown).
    """
    where = [
        jobs.c.status.in_(sorted(status.value for status in rule.statuses)),
        TIME_COLUMNS[rule.time_field] < cutoff,
    ]
    if rule.accounts:
        ids = select(accounts.c.id).where(accounts.c.identifier.in_(rule.accounts))
        where.append(jobs.c.account_id.in_(ids))
    return where


def missing_accounts(conn: Connection, identifiers: Sequence[str]) -> list[str]:
    """Those of ``identifiers`` that name no account."""
    found = conn.scalars(
        select(accounts.c.identifier).where(accounts.c.identifier.in_(identifiers))
    )
    return sorted(set(identifiers) - set(found))


def summarize(conn: Connection, rule: RetentionRule, cutoff: datetime) -> list[RetentionGroup]:
    """The selected jobs grouped by account and status, in that order."""
    column = TIME_COLUMNS[rule.time_field]
    query = (
        select(
            accounts.c.identifier,
            jobs.c.status,
            func.count(),
            func.coalesce(func.sum(jobs.c.total), 0),
            func.coalesce(func.sum(jobs.c.submission_bytes + jobs.c.result_bytes), 0),
            func.min(column),
            func.max(column),
        )
        .select_from(jobs.join(accounts, accounts.c.id == jobs.c.account_id))
        .where(*conditions(rule, cutoff))
        .group_by(accounts.c.identifier, jobs.c.status)
        .order_by(accounts.c.identifier, jobs.c.status)
    )
    return [_group(row) for row in conn.execute(query)]


def _group(row: Sequence[Any]) -> RetentionGroup:
    account, status, count, total, size, oldest, newest = row
    # PostgreSQL sums integers as numeric (Decimal); SQLite as int.
    return RetentionGroup(
        account=account,
        status=JobStatus(status),
        jobs=int(count),
        inputs=int(total),
        bytes=int(size),
        oldest=oldest,
        newest=newest,
    )


def delete_batch(
    conn: Connection, rule: RetentionRule, cutoff: datetime, limit: int
) -> tuple[RetentionReport, list[str]]:
    """Delete up to ``limit`` of the selected jobs, oldest serials first, with their rows.

    Returns the counts and the identifiers of the deleted jobs, whose blob folders the caller
    removes once this transaction has committed. On PostgreSQL the chosen jobs are locked
    first, so a job that changes meanwhile is deleted only if it still matches.
    """
    chosen = conn.execute(
        select(jobs.c.id, jobs.c.identifier)
        .where(*conditions(rule, cutoff))
        .order_by(jobs.c.id)
        .limit(limit)
        .with_for_update()
    ).all()
    if not chosen:
        return RetentionReport(), []
    ids = [row.id for row in chosen]
    # ON DELETE CASCADE would remove these rows too (SQLite enforces it with PRAGMA
    # foreign_keys=ON), but deleting them first is better on both databases: it gives the
    # counts the report shows, and it is one set-wise statement per table, each served by
    # the job_id index (uq_inputs_job_id_source, ix_events_job_id_id), where PostgreSQL's
    # cascade runs a trigger with one DELETE per job row. The cascade then finds nothing.
    gone_events = conn.execute(delete(events).where(events.c.job_id.in_(ids))).rowcount
    gone_inputs = conn.execute(delete(inputs).where(inputs.c.job_id.in_(ids))).rowcount
    gone_jobs = conn.execute(delete(jobs).where(jobs.c.id.in_(ids))).rowcount
    report = RetentionReport(jobs=gone_jobs, inputs=gone_inputs, events=gone_events, batches=1)
    return report, [row.identifier for row in chosen]
