"""The worker's side of the queue: claim inputs, read their parts, report outcomes."""

from __future__ import annotations

from collections.abc import Sequence

from jobline.domain.records import OutputFile
from jobline.domain.work import Claim, Outcome
from jobline.store import Store
from jobline.store import queue as queue_store

LEASE_SECONDS = 300.0


def claim(
    store: Store,
    worker: str,
    *,
    models: Sequence[str] | None = None,
    limit: int = 1,
    lease_seconds: float = LEASE_SECONDS,
) -> list[Claim]:
    """Lease up to ``limit`` queued inputs for ``worker`` (of ``models``, or any)."""
    with store.write() as conn:
        return queue_store.claim(
            conn, worker=worker, models_served=models, limit=limit, lease_seconds=lease_seconds
        )


def read_part(store: Store, blob_key: str) -> bytes:
    return store.blobs.get(blob_key)


def complete(store: Store, done: Sequence[tuple[Claim, Outcome]]) -> list[bool]:
    """Store outcomes in one transaction; False for each whose lease had already gone."""
    finished = [(claim, outcome, _store_files(store, claim, outcome)) for claim, outcome in done]
    with store.write() as conn:
        return queue_store.complete(conn, finished)


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
