"""The worker registry: every worker reports itself with its heartbeats; admins list them.

A worker's name is what its leases are held by, so while a worker is alive its name belongs
to the access key it registered with: a second worker of another key cannot take it over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from jobline.core import auth, work
from jobline.domain.records import Principal
from jobline.domain.workers import WorkerInfo, WorkerRecord
from jobline.errors import NotAllowed
from jobline.store import Store
from jobline.store import workers as worker_store
from jobline.store.jobs import now

FORGET_AFTER = timedelta(days=1)  # rows of workers unheard of for this long are deleted


def heartbeat(
    store: Store,
    info: WorkerInfo,
    input_ids: Sequence[int],
    started: Sequence[int] = (),
    *,
    key_prefix: str = "",
    lease_seconds: float = work.LEASE_SECONDS,
) -> list[int]:
    """Record that the worker is alive, renew its leases on ``input_ids`` for
    ``lease_seconds`` and mark ``started`` RUNNING; returns the inputs it must stop (as
    :func:`jobline.core.work.heartbeat` does)."""
    register(store, info, key_prefix=key_prefix)
    if not input_ids:
        return []
    return work.heartbeat(store, info.name, input_ids, lease_seconds, started)


def register(store: Store, info: WorkerInfo, *, key_prefix: str = "") -> None:
    """Record what the worker reported about itself, as of now.

    NotAllowed when a live worker of another key holds the name.
    """
    at = now()
    with store.write(plan_once=True) as conn:
        found = worker_store.find(conn, info.name)
        if found is not None and found.key_prefix != key_prefix and found.alive(at):
            raise NotAllowed(
                f"worker name {info.name!r} is in use by a live worker of another access key; "
                "give this worker another name",
                param="worker",
                value=info.name,
            )
        if found is None:
            worker_store.forget(conn, at - FORGET_AFTER)
        same_process = found is not None and (found.host, found.pid) == (info.host, info.pid)
        started = found.started_at if found is not None and same_process else at
        worker_store.save(conn, info, key_prefix=key_prefix, started_at=started, seen_at=at)


def check_holder(store: Store, name: str, key_prefix: str) -> None:
    """NotAllowed unless the worker ``name`` registered with this key."""
    with store.read() as conn:
        found = worker_store.find(conn, name)
    if found is None or found.key_prefix != key_prefix:
        raise NotAllowed(
            f"worker {name!r} is not registered with this access key; "
            "it must claim work before it reports on it",
            param="worker",
            value=name,
        )


def work_waiting(store: Store, models: Sequence[str] | None) -> bool:
    """Whether inputs of these models (None: any) wait in the queue of a job that may run."""
    with store.read() as conn:
        return worker_store.work_waiting(conn, models)


def listing(store: Store, principal: Principal) -> list[WorkerRecord]:
    """Every registered worker, live or not (see ``WorkerRecord.alive``); for admins."""
    auth.require_user_key(principal)
    auth.require_admin(principal)
    with store.read() as conn:
        return worker_store.list_workers(conn)
