"""Execution speed: how fast the embedded worker drains no-op inputs, and how long one job
takes from submit to result with an idle worker.

Compare: Celery with RabbitMQ drains ~1,100 no-op tasks/s with two workers and takes ~3.4 ms
from submit to result on this machine.

    python bench/throughput.py [--inputs 5000] [--slots 2] [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import time

from bench.common import fresh_store, member, percentiles, postgres_available
from jobline.core import jobs
from jobline.core.jobs import Submission
from jobline.domain.status import JobStatus
from jobline.store import Store
from jobline.worker.loop import Worker
from jobline.worker.source import LocalWorkSource


def drain_rate(store: Store, inputs: int, slots: int, per_job: int) -> float:
    """Inputs per second that ``slots`` worker threads finish, queue pre-filled."""
    caller = member(store, "drain")
    for start in range(0, inputs, per_job):
        count = min(per_job, inputs - start)
        parts = {str(i): {"input": b"x"} for i in range(count)}
        jobs.submit(store, caller, Submission("echo", parts))
    worker = Worker(LocalWorkSource(store), slots=slots, name="bench")
    began = time.perf_counter()
    worker.start()
    while True:
        page = jobs.history(store, caller, _pending_query())
        if not page.jobs:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - began
    worker.stop()
    return inputs / elapsed


def _pending_query() -> jobs.HistoryQuery:
    return jobs.HistoryQuery(
        statuses=frozenset({JobStatus.SUBMITTED, JobStatus.IN_PROGRESS}), per_page=1
    )


def latency(store: Store, rounds: int, slots: int) -> list[float]:
    """Seconds from submit to the job's COMPLETED status, one job at a time, worker idle."""
    caller = member(store, "latency")
    worker = Worker(LocalWorkSource(store), slots=slots, name="bench-latency")
    worker.start()
    samples = []
    try:
        for _ in range(rounds):
            time.sleep(0.005)  # let the worker go idle, as it would be between real submissions
            began = time.perf_counter()
            job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
            while jobs.get(store, caller, job.id).status is not JobStatus.COMPLETED:
                time.sleep(0.0002)  # poll, leaving the GIL to the worker threads
            samples.append(time.perf_counter() - began)
    finally:
        worker.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=5000)
    parser.add_argument("--per-job", type=int, default=1, help="inputs per job while draining")
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    for database in databases:
        if database == "postgres" and not postgres_available():
            print("postgres: unreachable, skipped")
            continue
        with fresh_store(database) as store:
            rate = drain_rate(store, args.inputs, args.slots, args.per_job)
        with fresh_store(database) as store:
            samples = latency(store, args.rounds, args.slots)
        print(
            f"{database:8} drain {rate:8.0f} inputs/s ({args.inputs} inputs, "
            f"{args.per_job}/job, {args.slots} slots)   submit->result {percentiles(samples)}"
        )


if __name__ == "__main__":
    main()
