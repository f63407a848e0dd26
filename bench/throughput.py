"""Execution speed: how fast the embedded worker drains no-op inputs with 1, 2 and 4 slots,
how long one 10 000-input job takes, and how long one job takes from submit to COMPLETED with
an idle worker. Prints one Markdown table.

The worker's process has run inputs before each measurement, as a serving worker has: its fork
server (which imports jobline once for every model process) is up. That start is paid once per
worker process, ~0.5-1 s; it is measured alone as "cold start" (the first input of a fresh
process, from submit to COMPLETED). Each measurement still starts its own model processes.

Compare: Celery with RabbitMQ drains ~1,100 no-op tasks/s with two workers and takes ~3.4 ms
from submit to result on this machine.

    python -m bench.throughput [--inputs 1000] [--slots 1,2,4] [--big 10000] [--rounds 50]
                               [--repeat 1] [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field

from bench.common import fresh_store, member, postgres_available
from jobline.core import jobs
from jobline.core.jobs import Submission
from jobline.domain.history import HistoryQuery
from jobline.domain.records import Principal
from jobline.domain.status import JobStatus
from jobline.store import Store
from jobline.worker.loop import Worker
from jobline.worker.source import LocalWorkSource

POLL_SECONDS = 0.0002  # how often the latency probe reads the job, leaving the GIL meanwhile


def cold_start(database: str) -> float:
    """Seconds from submit to COMPLETED of the first input this process runs: the fork
    server's start, one model process, the claim and the report."""
    with fresh_store(database) as store:
        caller = member(store, "cold")
        worker = Worker(LocalWorkSource(store), slots=1, name="bench-cold")
        worker.start()
        try:
            began = time.perf_counter()
            job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
            _wait_completed(store, caller, job.id, POLL_SECONDS)
            return time.perf_counter() - began
        finally:
            worker.stop()


def drain_rate(store: Store, inputs: int, slots: int, per_job: int) -> float:
    """Inputs per second that a worker with ``slots`` slots finishes, queue pre-filled."""
    caller = member(store, f"drain{slots}")
    for start in range(0, inputs, per_job):
        count = min(per_job, inputs - start)
        parts = {str(i): {"input": b"x"} for i in range(count)}
        jobs.submit(store, caller, Submission("echo", parts))
    worker = Worker(LocalWorkSource(store), slots=slots, name=f"bench-{slots}")
    began = time.perf_counter()
    worker.start()
    try:
        while jobs.history(store, caller, _pending_query()).jobs:
            time.sleep(0.01)
        return inputs / (time.perf_counter() - began)
    finally:
        worker.stop()


def _pending_query() -> HistoryQuery:
    return HistoryQuery(
        statuses=frozenset({JobStatus.SUBMITTED, JobStatus.IN_PROGRESS}), per_page=1
    )


def big_job(store: Store, inputs: int, slots: int) -> tuple[float, float]:
    """Seconds to submit one job of ``inputs`` inputs, and from its submit to COMPLETED."""
    caller = member(store, "big")
    worker = Worker(LocalWorkSource(store), slots=slots, name="bench-big")
    worker.start()
    try:
        began = time.perf_counter()
        parts = {str(i): {"input": b"x"} for i in range(inputs)}
        job = jobs.submit(store, caller, Submission("echo", parts), max_inputs=inputs)
        submitted = time.perf_counter()
        _wait_completed(store, caller, job.id, 0.005)
        return submitted - began, time.perf_counter() - began
    finally:
        worker.stop()


def latency(store: Store, rounds: int, slots: int) -> list[float]:
    """Seconds from submit to the job's COMPLETED status, one job at a time, worker idle."""
    caller = member(store, "latency")
    worker = Worker(LocalWorkSource(store), slots=slots, name="bench-latency")
    worker.start()
    samples = []
    try:
        for _ in range(rounds + 3):  # the first few start the child processes: not counted
            time.sleep(0.005)  # let the worker go idle, as it would be between real submissions
            began = time.perf_counter()
            job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
            _wait_completed(store, caller, job.id, POLL_SECONDS)
            samples.append(time.perf_counter() - began)
    finally:
        worker.stop()
    return samples[3:]


def _wait_completed(store: Store, caller: Principal, job_id: int, poll: float) -> None:
    while jobs.get(store, caller, job_id).status is not JobStatus.COMPLETED:
        time.sleep(poll)


@dataclass
class Row:
    """The best of each measurement over the repeats, for one database."""

    database: str
    rates: dict[int, float] = field(default_factory=dict)  # slots -> inputs/s
    big_submit: float = float("inf")  # seconds
    big_total: float = float("inf")
    latency: list[float] = field(default_factory=list)  # seconds, the run with the best p50

    def cells(self, slot_counts: list[int]) -> list[str]:
        cuts = statistics.quantiles(self.latency, n=100, method="inclusive")
        return [
            self.database,
            *(f"{self.rates[slots]:,.0f}" for slots in slot_counts),
            f"{self.big_total:.1f} s (submit {self.big_submit:.1f} s)",
            f"{cuts[49] * 1000:.1f} / {cuts[94] * 1000:.1f} ms",
        ]


def measure(database: str, args: argparse.Namespace, slot_counts: list[int]) -> Row:
    row = Row(database)
    for _ in range(args.repeat):
        for slots in slot_counts:
            with fresh_store(database) as store:
                rate = drain_rate(store, args.inputs, slots, args.per_job)
            row.rates[slots] = max(rate, row.rates.get(slots, 0.0))
        with fresh_store(database) as store:
            submit, total = big_job(store, args.big, max(2, min(slot_counts)))
        if total < row.big_total:
            row.big_submit, row.big_total = submit, total
        with fresh_store(database) as store:
            samples = latency(store, args.rounds, 2)
        if not row.latency or statistics.median(samples) < statistics.median(row.latency):
            row.latency = samples
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=1000, help="inputs per drain")
    parser.add_argument("--per-job", type=int, default=1, help="inputs per job while draining")
    parser.add_argument("--slots", default="1,2,4", help="slot counts to drain with")
    parser.add_argument("--big", type=int, default=10_000, help="inputs of the one big job")
    parser.add_argument("--rounds", type=int, default=50, help="latency samples")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the best of each is kept")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    slot_counts = [int(s) for s in args.slots.split(",")]
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    cold = cold_start(databases[0])  # the fork server then stays up for what follows
    rows = []
    for database in databases:
        if database == "postgres" and not postgres_available():
            print("postgres: unreachable, skipped")
            continue
        rows.append(measure(database, args, slot_counts))
    header = [
        "database",
        *(f"inputs/s, {n} slot{'s' if n > 1 else ''}" for n in slot_counts),
        f"one {args.big:,}-input job",
        "submit -> completed p50 / p95",
    ]
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    for row in rows:
        print(f"| {' | '.join(row.cells(slot_counts))} |")
    print(
        f"\n(echo model; drains of {args.inputs} inputs, {args.per_job} per job; "
        f"{args.rounds} latency samples with 2 slots; best of {args.repeat}; worker process "
        f"warm)\ncold start, the first input of a fresh worker process ({databases[0]}): "
        f"{cold * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
