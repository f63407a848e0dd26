"""Retention runs: see what a rule selects, and delete it in short batches.

:func:`plan` reads and deletes nothing. :func:`apply` deletes what the rule selects at ``now``,
one batch of jobs per transaction, so that even a deletion of millions never holds a lock for
long (on SQLite, the one write lock every submission and completion waits for). Each batch
takes its jobs' inputs and events with it, and once it has committed, their blob folders.
A history that changes between the two calls may make the deleted counts differ from the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from jobline.domain.retention import RetentionPlan, RetentionReport, RetentionRule
from jobline.errors import InvalidRequest
from jobline.store import Store
from jobline.store import retention as retention_store


def plan(store: Store, rule: RetentionRule, now: datetime) -> RetentionPlan:
    """What ``rule`` selects at ``now``, per account and status; raises on an unknown account."""
    cutoff = rule.cutoff(now)
    with store.read() as conn:
        missing = retention_store.missing_accounts(conn, rule.accounts)
        if missing:
            raise InvalidRequest(
                f"Invalid --account {missing[0]!r}: no such account. "
                "Accepted: the identifier of an existing account (see 'jobline users list').",
                param="--account",
                value=missing[0],
            )
        groups = retention_store.summarize(conn, rule, cutoff)
    return RetentionPlan(rule=rule, cutoff=cutoff, groups=tuple(groups))


def apply(
    store: Store,
    rule: RetentionRule,
    now: datetime,
    batch: int,
    progress: Callable[[RetentionReport], None] | None = None,
) -> RetentionReport:
    """Delete what ``rule`` selects at ``now``, ``batch`` jobs per transaction.

    ``progress`` is called after every batch with the running totals. Raises ValueError for a
    ``batch`` below 1.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1 job, not {batch}")  # the CLI checks first
    cutoff = rule.cutoff(now)
    done = RetentionReport()
    while True:
        with store.write() as conn:
            deleted, identifiers = retention_store.delete_batch(conn, rule, cutoff, batch)
        if not identifiers:
            return done
        # Only now that the rows are gone for good: a rolled-back batch keeps its blobs.
        for identifier in identifiers:
            store.blobs.delete_group(identifier)
        done += replace(deleted, blob_folders=len(identifiers))
        if progress is not None:
            progress(done)
