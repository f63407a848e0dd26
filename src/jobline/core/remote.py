"""What a remote worker may do through the API: the calls of :mod:`jobline.core.work`, for
worker keys (and admins) only, each checked against the worker's name and its leases.

A remote worker names itself in every call. The name is bound to the caller's access key by
the registry (:mod:`jobline.core.workers`), and a worker may read the parts of, and report on,
only the inputs it holds a lease on, so one worker key cannot touch another worker's inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from jobline.core import work, workers
from jobline.domain.records import KeyKind, Principal, Role
from jobline.domain.work import Claim, Outcome
from jobline.domain.workers import Lease, WorkerInfo
from jobline.errors import NotAllowed, NotFound
from jobline.store import Store
from jobline.store import queue as queue_store
from jobline.store import workers as worker_store


def require_worker(principal: Principal) -> None:
    """Only worker keys, and admins, may claim and report work."""
    if principal.key_kind is not KeyKind.WORKER and principal.role is not Role.ADMIN:
        raise NotAllowed(
            "only a worker key (made by 'jobline keys create USER --worker') or an admin may "
            "claim and report work; this is a user's key",
            param="key",
        )


def check_in(store: Store, principal: Principal, info: WorkerInfo) -> None:
    """Before a claim: check that the caller may work, and refresh its registry row."""
    require_worker(principal)
    workers.register(store, info, key_prefix=_key(principal))


def heartbeat(
    store: Store,
    principal: Principal,
    info: WorkerInfo,
    input_ids: Sequence[int],
    started: Sequence[int] = (),
    *,
    lease_seconds: float = work.LEASE_SECONDS,
) -> tuple[list[int], bool]:
    """Renew the worker's leases for ``lease_seconds`` and mark ``started`` RUNNING; returns
    the inputs it must stop, and
    whether work waits for it (a busy remote worker hears of new work this way, having no
    other wake-up)."""
    require_worker(principal)
    key = _key(principal)
    stop = workers.heartbeat(
        store, info, input_ids, started, key_prefix=key, lease_seconds=lease_seconds
    )
    return stop, workers.work_waiting(store, info.models)


def read_part(store: Store, principal: Principal, worker: str, blob_key: str) -> bytes:
    """The bytes of one part of an input that ``worker`` holds a lease on."""
    require_worker(principal)
    workers.check_holder(store, worker, _key(principal))
    with store.read() as conn:
        held = worker_store.leased_parts(conn, worker)
    if blob_key not in held:
        raise NotFound(
            f"worker {worker!r} holds no lease on an input with the part {blob_key!r}",
            param="blob_key",
            value=blob_key,
        )
    return work.read_part(store, blob_key)


def complete(
    store: Store, principal: Principal, worker: str, reports: Sequence[tuple[Lease, Outcome]]
) -> list[bool]:
    """Store how the worker's inputs ended; False for each it no longer holds (its lease
    expired, or the report names an input, job or owner that does not match its lease, or
    names an input a second time)."""
    require_worker(principal)
    workers.check_holder(store, worker, _key(principal))
    input_ids = [lease.input_id for lease, _ in reports]
    with store.read() as conn:
        held = {c.input_id: c for c in queue_store.held_claims(conn, worker, input_ids)}
    matched = [(_matching(held, lease), outcome) for lease, outcome in reports]
    done = [(claim, outcome) for claim, outcome in matched if claim is not None]
    accepted = iter(work.complete(store, done) if done else [])
    return [claim is not None and next(accepted) for claim, _ in matched]


def _matching(held: dict[int, Claim], lease: Lease) -> Claim | None:
    claim = held.pop(lease.input_id, None)  # popped: a second report of it matches nothing
    if claim is None:
        return None
    if (claim.job_id, claim.job_identifier, claim.lease_owner) != (
        lease.job_id,
        lease.job_identifier,
        lease.owner,
    ):
        return None
    return claim


def _key(principal: Principal) -> str:
    return principal.key_prefix or ""
