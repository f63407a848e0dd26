"""Execution speed: how fast 1, 2 and 4 worker processes of one slot each (as many embedded
workers sharing the database) drain no-op inputs, and one worker process with 1, 2 and 4 slots;
how long one 10 000-input job takes, how long one job takes from submit to COMPLETED with
an idle worker, and how soon an input runs again once its worker process was killed (kill -9)
in the middle of it. Prints one Markdown table.

Each worker process has run an input before the clock starts, as a serving worker has: its fork
server (which imports jobline once for every model process) is up. That start is paid once per
worker process, ~0.5-1 s; it is measured alone as "cold start" (the first input of a fresh
process, from submit to COMPLETED). Each measurement still starts its own model processes.

Compare: Celery with RabbitMQ drains ~1,100 no-op tasks/s with two workers and takes ~3.4 ms
from submit to result on this machine.

    python -m bench.throughput [--inputs 1000] [--processes 1,2,4] [--slots 1,2,4]
                               [--big 10000] [--rounds 50] [--repeat 1]
                               [--database sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path

from sqlalchemy import func, select

from bench.common import fresh_store, member, postgres_available
from jobline.core import jobs
from jobline.core.jobs import Submission
from jobline.domain.status import InputStatus, JobStatus
from jobline.domain.work import Claim, Outcome
from jobline.domain.workers import WorkerInfo
from jobline.store import Store
from jobline.store.tables import inputs as inputs_table
from jobline.store.tables import jobs as jobs_table
from jobline.worker.loop import Worker
from jobline.worker.runner import Runner
from jobline.worker.source import LocalWorkSource

DRAIN_POLL_SECONDS = 0.1  # how often a drain is checked for its end
LEASE_SECONDS = 3.0  # the lease of the lease-expiry measurement (target: rerun within +2 s)


def cold_start(database: str) -> float:
    """Seconds from submit to COMPLETED of the first input this process runs: the fork
    server's start, one model process, the claim and the report."""
    with fresh_store(database) as store:
        caller = member(store, "cold")
        worker = Worker(LocalWorkSource(store), slots=1, name="bench-cold")
        worker.start()
        try:
            began = datetime.now(UTC)
            job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
            return (_finished(store, job.id) - began).total_seconds()
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
    began = datetime.now(UTC)
    worker.start()
    try:
        return inputs / _drained_after(store, began)
    finally:
        worker.stop()


def drain_rate_processes(store: Store, inputs: int, processes: int) -> float:
    """Inputs per second that ``processes`` worker processes of one slot each finish, queue
    pre-filled: as many ``jobline serve`` nodes (or embedded workers) sharing the database."""
    caller = member(store, f"drain-processes{processes}")
    for _ in range(inputs):
        jobs.submit(store, caller, Submission("echo", {"input": {"input": b"x"}}))
    with worker_processes(store, processes, slots=1):
        began = datetime.now(UTC)
        return inputs / _drained_after(store, began)


@contextmanager
def worker_processes(store: Store, processes: int, slots: int) -> Iterator[None]:
    """``processes`` worker processes on ``store``'s database, each warm (see the module's
    text) before they start to claim, all at once on entering; stopped on leaving."""
    context = multiprocessing.get_context("spawn")
    ready = [context.Event() for _ in range(processes)]
    go, done = context.Event(), context.Event()
    url = store.engine.url.render_as_string(hide_password=False)
    workers = [
        context.Process(target=_serve, args=(url, store.blobs.root, slots, flag, go, done))
        for flag in ready
    ]
    for process in workers:
        process.start()
    try:
        for flag in ready:
            flag.wait()
        go.set()
        yield
    finally:
        done.set()
        for process in workers:
            process.join()


def _serve(url: str, blobs: Path, slots: int, ready: Event, go: Event, done: Event) -> None:
    """A worker process: warm (its fork server and one model process up), then it serves."""
    store = Store.open(url, blobs)
    _, version = jobs.resolve_model(store, "echo", None)
    warm = Claim(0, 0, "", "", "echo", version.version, version.entry_point, {}, {}, 1, "", 60)
    runner = Runner()
    runner.run(warm, {"input": b"x"})
    runner.close()
    ready.set()
    go.wait()
    worker = Worker(LocalWorkSource(store), slots=slots)
    worker.start()
    done.wait()
    worker.stop()
    store.close()


def _drained_after(store: Store, began: datetime) -> float:
    """Seconds from ``began`` until the last queued input ended, once none is left. The
    clock is the inputs' own end times, so a slow poll (which leaves the cores to the worker)
    costs no precision."""
    running = (InputStatus.QUEUED.value, InputStatus.RUNNING.value)
    left = select(func.count()).where(inputs_table.c.status.in_(running))
    ended = select(func.max(inputs_table.c.finished_at))
    while True:
        with store.read() as conn:
            if not conn.execute(left).scalar_one():
                last: datetime = conn.execute(ended).scalar_one()
                return (last - began).total_seconds()
        time.sleep(DRAIN_POLL_SECONDS)


def big_job(store: Store, inputs: int, slots: int) -> tuple[float, float]:
    """Seconds to submit one job of ``inputs`` inputs, and from its submit to COMPLETED."""
    caller = member(store, "big")
    worker = Worker(LocalWorkSource(store), slots=slots, name="bench-big")
    worker.start()
    try:
        parts = {str(i): {"input": b"x"} for i in range(inputs)}
        began = datetime.now(UTC)
        job = jobs.submit(store, caller, Submission("echo", parts), max_inputs=inputs)
        submitted = (datetime.now(UTC) - began).total_seconds()
        finished = _finished(store, job.id, DRAIN_POLL_SECONDS)
        return submitted, (finished - began).total_seconds()
    finally:
        worker.stop()


def latency(store: Store, rounds: int, slots: int) -> list[float]:
    """Seconds from the call to submit until the transaction that completed the job has
    committed, one job at a time, worker idle (embedded, as ``jobline serve`` runs it). The
    worker's source tells when; nothing polls the database meanwhile, which would take CPU
    and the interpreter lock from the system measured."""
    caller = member(store, "latency")
    source = _ReportingSource(store)
    worker = Worker(source, slots=slots, name="bench-latency")
    worker.start()
    samples = []
    try:
        for _ in range(rounds + 3):  # the first few start the model processes: not counted
            time.sleep(0.005)  # let the worker go idle, as it would be between real submissions
            began = time.perf_counter()
            job = jobs.submit(store, caller, Submission("echo", {"a": {"input": b"x"}}))
            job_id, reported = source.reported.get(timeout=60)
            assert job_id == job.id, "one job at a time"
            samples.append(reported - began)
            _finished(store, job.id)  # it is COMPLETED now, not some other status
    finally:
        worker.stop()
    return samples[3:]


class _ReportingSource(LocalWorkSource):
    """The embedded worker's source, telling (job, when) as each report has committed."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.reported: queue.SimpleQueue[tuple[int, float]] = queue.SimpleQueue()

    def complete(self, done: Sequence[tuple[Claim, Outcome]]) -> list[bool]:
        accepted = super().complete(done)
        at = time.perf_counter()
        for claim, _ in done:
            self.reported.put((claim.job_id, at))
        return accepted


def lease_rerun(store: Store, lease_seconds: float) -> float:
    """Seconds from kill -9 of a worker process in the middle of an input until another
    worker (embedded and idle, as ``jobline serve`` runs it, with the same lease) has
    claimed the input again and hands it to a model process."""
    caller = member(store, "lease")
    job = jobs.submit(store, caller, Submission("sleep", {"a": {"input": b"60"}}))
    url = store.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    victim = context.Process(target=_serve_leased, args=(url, store.blobs.root, lease_seconds))
    victim.start()
    _until_running(store, job.id, attempt=1)
    source = _ClaimWatch(store, lease_seconds=lease_seconds)
    survivor = Worker(source, slots=1, name="bench-survivor")
    survivor.start()
    victim.kill()
    killed = time.perf_counter()
    try:
        claimed = source.claimed.get(timeout=lease_seconds + 30)
        _until_running(store, job.id, attempt=2)
        jobs.cancel(store, caller, job.id)  # the survivor stops the input at its next beat
    finally:
        survivor.stop()
        victim.join()
    return claimed - killed


def _until_running(store: Store, job_id: int, attempt: int) -> None:
    """Wait until a worker has begun the job's input, for the ``attempt``-th time, and told
    the database so."""
    running = select(inputs_table.c.id).where(
        inputs_table.c.job_id == job_id,
        inputs_table.c.status == InputStatus.RUNNING.value,
        inputs_table.c.attempts == attempt,
    )
    while True:
        with store.read() as conn:
            if conn.execute(running).first() is not None:
                return
        time.sleep(0.01)


def _serve_leased(url: str, blobs: Path, lease_seconds: float) -> None:
    """A worker process with leases of ``lease_seconds``, serving until it is killed."""
    store = Store.open(url, blobs)
    Worker(LocalWorkSource(store, lease_seconds=lease_seconds), slots=1).start()
    threading.Event().wait()


class _ClaimWatch(LocalWorkSource):
    """The embedded worker's source, telling when a claim has leased an input."""

    def __init__(self, store: Store, *, lease_seconds: float) -> None:
        super().__init__(store, lease_seconds=lease_seconds)
        self.claimed: queue.SimpleQueue[float] = queue.SimpleQueue()

    def claim(self, worker: WorkerInfo, limit: int) -> list[Claim]:
        claims = super().claim(worker, limit)
        if claims:
            self.claimed.put(time.perf_counter())
        return claims


def _finished(store: Store, job_id: int, poll: float = 0.002) -> datetime:
    """The job's finished time, once it has COMPLETED."""
    done = select(jobs_table.c.finished_at).where(
        jobs_table.c.id == job_id, jobs_table.c.status == JobStatus.COMPLETED.value
    )
    while True:
        with store.read() as conn:
            finished: datetime | None = conn.execute(done).scalar_one_or_none()
        if finished is not None:
            return finished
        time.sleep(poll)


@dataclass
class Row:
    """The best of each measurement over the repeats, for one database."""

    database: str
    rates: dict[int, float] = field(default_factory=dict)  # slots -> inputs/s
    process_rates: dict[int, float] = field(default_factory=dict)  # processes -> inputs/s
    big_submit: float = float("inf")  # seconds
    big_total: float = float("inf")
    big_inputs: int = 0
    latency: list[float] = field(default_factory=list)  # seconds, the run with the best p50
    lease_rerun: float = float("inf")  # seconds

    def cells(self) -> list[str]:
        cuts = statistics.quantiles(self.latency, n=100, method="inclusive")
        return [
            self.database,
            " / ".join(f"{rate:,.0f}" for rate in self.process_rates.values()),
            " / ".join(f"{rate:,.0f}" for rate in self.rates.values()),
            f"{self.big_total:.1f} s (submit {self.big_submit:.1f} s, then "
            f"{self.big_inputs / (self.big_total - self.big_submit):,.0f} inputs/s)",
            f"{cuts[49] * 1000:.1f} / {cuts[94] * 1000:.1f} ms",
            f"{self.lease_rerun:.2f} s",
        ]


def measure(
    database: str, args: argparse.Namespace, slot_counts: list[int], process_counts: list[int]
) -> Row:
    row = Row(database)
    for _ in range(args.repeat):
        for processes in process_counts:
            with fresh_store(database) as store:
                rate = drain_rate_processes(store, args.inputs, processes)
            row.process_rates[processes] = max(rate, row.process_rates.get(processes, 0.0))
        for slots in slot_counts:
            with fresh_store(database) as store:
                rate = drain_rate(store, args.inputs, slots, args.per_job)
            row.rates[slots] = max(rate, row.rates.get(slots, 0.0))
        with fresh_store(database) as store:
            submit, total = big_job(store, args.big, max(2, min(slot_counts)))
        if total < row.big_total:
            row.big_submit, row.big_total, row.big_inputs = submit, total, args.big
        with fresh_store(database) as store:
            samples = latency(store, args.rounds, 2)
        if not row.latency or statistics.median(samples) < statistics.median(row.latency):
            row.latency = samples
        with fresh_store(database) as store:
            row.lease_rerun = min(row.lease_rerun, lease_rerun(store, LEASE_SECONDS))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=1000, help="inputs per drain")
    parser.add_argument("--per-job", type=int, default=1, help="inputs per job while draining")
    parser.add_argument("--processes", default="1,2,4", help="worker processes to drain with")
    parser.add_argument("--slots", default="1,2,4", help="slots of one worker to drain with")
    parser.add_argument("--big", type=int, default=10_000, help="inputs of the one big job")
    parser.add_argument("--rounds", type=int, default=50, help="latency samples")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the best of each is kept")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    slot_counts = [int(s) for s in args.slots.split(",")]
    process_counts = [int(p) for p in args.processes.split(",")]
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    cold = cold_start(databases[0])  # the fork server then stays up for what follows
    rows = []
    for database in databases:
        if database == "postgres" and not postgres_available():
            print("postgres: unreachable, skipped")
            continue
        rows.append(measure(database, args, slot_counts, process_counts))
    header = [
        "database",
        f"inputs/s, {' / '.join(map(str, process_counts))} worker processes of 1 slot",
        f"inputs/s, 1 worker process of {' / '.join(map(str, slot_counts))} slots",
        f"one {args.big:,}-input job",
        "submit -> completed p50 / p95",
        f"lease-expiry rerun ({LEASE_SECONDS:g} s lease)",
    ]
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    for row in rows:
        print(f"| {' | '.join(row.cells())} |")
    print(
        f"\n(echo model; drains of {args.inputs} inputs, {args.per_job} per job; "
        f"the big job and {args.rounds} latency samples with 2 slots; best of {args.repeat}; "
        f"worker process warm)\ncold start, the first input of a fresh worker process "
        f"({databases[0]}): {cold * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
