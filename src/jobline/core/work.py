"""The worker's side of the queue: claim inputs, read their parts, report outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection

from jobline.core.collect import collect
from jobline.domain.records import OutputFile
from jobline.domain.work import Claim, Outcome
from jobline.store import Store, progress
from jobline.store import jobs as job_store
from jobline.store import queue as queue_store

LEASE_SECONDS = 30.0  # a worker that has not renewed its lease for this long is presumed gone
MAX_ATTEMPTS = 3  # runs of one input whose worker vanished, before the input fails
# A job that waited this long for its collect step lost whoever was to run it: run it again.
STALE_COLLECT = timedelta(seconds=60)


def claim(
    store: Store,
    worker: str,
    *,
    models: Sequence[str] | None = None,
    limit: int = 1,
    lease_seconds: float = LEASE_SECONDS,
    housekeep: bool = True,
) -> list[Claim]:
    """Lease up to ``limit`` queued inputs for ``worker`` (of ``models``, or any).

    With ``housekeep`` the same transaction first does what :func:`housekeep` does; a
    worker that claims often does that on a timer instead and passes False.
    """
    with store.write(plan_once=True) as conn:
        collecting = _housekeep(conn) if housekeep else []
        claims = queue_store.claim(
            conn, worker=worker, models_served=models, limit=limit, lease_seconds=lease_seconds
        )
    for job_id in collecting:
        collect(store, job_id)
    return claims


def housekeep(store: Store) -> None:
    """End the jobs past their deadline, requeue (or fail) the inputs whose lease expired,
    and run the collect steps that their runner never ran."""
    with store.write(plan_once=True) as conn:
        collecting = _housekeep(conn)
    for job_id in collecting:
        collect(store, job_id)


def _housekeep(conn: Connection) -> list[int]:
    progress.end_overdue(conn)
    collecting = queue_store.requeue_expired(conn, max_attempts=MAX_ATTEMPTS)
    return collecting + progress.waiting_for_collect(conn, job_store.now() - STALE_COLLECT)


def heartbeat(
    store: Store,
    worker: str,
    input_ids: Sequence[int],
    lease_seconds: float = LEASE_SECONDS,
    started: Sequence[int] = (),
) -> list[int]:
    """Renew ``worker``'s leases on the inputs it holds, and mark those it has begun
    (``started``) RUNNING; returns the ones it must stop."""
    with store.write(plan_once=True) as conn:
        progress.end_overdue(conn)
        return queue_store.heartbeat(conn, worker, input_ids, lease_seconds, started)


def read_part(store: Store, blob_key: str) -> bytes:
    return store.blobs.get(blob_key)


def complete(store: Store, done: Sequence[tuple[Claim, Outcome]]) -> list[bool]:
    """Store outcomes in one transaction; False for each whose lease had already gone."""
    finished = [(claim, outcome, _store_files(store, claim, outcome)) for claim, outcome in done]
    with store.write(plan_once=True) as conn:
        accepted, collecting = queue_store.complete(conn, finished)
    for job_id in collecting:
        collect(store, job_id)
    return accepted


def _store_files(store: Store, claim: Claim, outcome: Outcome) -> list[OutputFile]:
    return [
        OutputFile(
            name=name,
            blob_key=store.blobs.put(claim.job_identifier, data),
            size=len(data),
            media_type="application/octet-stream",
        )
        for name, data in outcome.files.items()
    ]
