"""Faults, with real processes: workers killed, servers restarted, the database stopped, model
code that never ends. Each test starts ``jobline serve`` (and ``jobline worker``) processes,
breaks something, and checks that every job still completes with its counters right.

Leases are short here (``JOBLINE_LEASE_SECONDS``), so a lost input runs again within seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from jobline import Client, errors
from jobline.core import auth
from jobline.domain.records import KeyKind, Role
from jobline.store import Store, catalog
from jobline.store.engine import make_engine
from jobline.store.tables import inputs, jobs
from tests import conftest
from tests.fixture_models import Runaway
from tests.postgres import OwnPostgres, own_postgres
from tests.processes import (
    JOBLINE,
    ProcessId,
    Running,
    alive,
    free_port,
    group,
    identity,
    jobline_env,
    model_processes,
    started,
    until,
    wait_healthy,
)

LEASE_SECONDS = 3.0
RUN_SECONDS = 60.0  # the longest the jobs of one test may take to complete
OUTAGE_SECONDS = 10.0  # how long PostgreSQL is away
RUNAWAY_TIMEOUT = 8.0  # seconds: long enough for the model to start and fork on a busy machine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@dataclass
class Keys:
    user: str  # a member's access key
    worker: str  # a worker key
    admin: str


def _prepare(url: str, blob_dir: Path) -> Keys:
    """Fixture models and the test's users in the database at ``url``."""
    store = Store.open(url, blob_dir)
    try:
        with store.write() as conn:
            catalog.register(conn, Runaway.name, Runaway.description, Runaway.model_version())
        keys = []
        for name, role, kind in [
            ("ann", Role.MEMBER, KeyKind.USER),
            ("robot", Role.MEMBER, KeyKind.WORKER),
            ("root", Role.ADMIN, KeyKind.USER),
        ]:
            user = auth.add_user(
                store,
                email=f"{name}@example.com",
                username=name,
                password=f"pw-{name}",
                role=role,
                account="acme",
            )
            keys.append(auth.create_key(store, user, kind).token)
        return Keys(*keys)
    finally:
        store.close()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh database on the shared PostgreSQL, from the test session's migrated template."""
    name = f"jobline_faults_{os.getpid()}_{next(conftest._databases)}"
    admin = create_engine(conftest._pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {pg_template}"))
    try:
        yield f"{conftest.PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def _serve(
    cwd: Path, port: int, *, slots: int, env: dict[str, str], name: str = "serve"
) -> Iterator[Running]:
    command = [JOBLINE, "serve", "--port", str(port), "--worker-slots", str(slots), "--no-demo"]
    with started(name, command, env=env, cwd=cwd) as server:
        server.wait_for("jobline serving")
        wait_healthy(f"http://127.0.0.1:{port}")
        yield server


@contextmanager
def _worker(
    cwd: Path, url: str, key: str, name: str, *, slots: int, env: dict[str, str]
) -> Iterator[Running]:
    command = [JOBLINE, "worker", "--server", url, "--key", key, "--name", name]
    with started(name, [*command, "--slots", str(slots)], env=env, cwd=cwd) as worker:
        worker.wait_for("working for")
        yield worker


def _inputs(url: str, job: str) -> dict[str, dict[str, Any]]:
    """What the database holds about a job's inputs, by source (lease owners included)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(inputs.c.source, inputs.c.status, inputs.c.attempts, inputs.c.lease_owner)
                .join(jobs, jobs.c.id == inputs.c.job_id)
                .where(jobs.c.identifier == job)
            ).all()
    finally:
        engine.dispose()
    return {row.source: row._asdict() for row in rows}


def _get(client: Client, job: str) -> dict[str, Any] | None:
    """The job, or None while the server (or its database) does not answer."""
    try:
        return client.get(job)
    except (errors.JoblineError, httpx.TransportError):
        return None


def _succeeded(client: Client, job: str) -> int:
    found = _get(client, job)
    return -1 if found is None else int(found["counts"]["succeeded"])


def _all_done(client: Client, identifiers: list[str]) -> bool:
    found = [_get(client, job) for job in identifiers]
    return all(job is not None and job["status"] == "COMPLETED" for job in found)


def _described(processes: Iterable[ProcessId]) -> list[str]:
    found = []
    for pid, _ in processes:
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            command = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:120]
        except OSError:
            continue
        fields = [line for line in status if line.startswith(("State:", "PPid:", "NSpgid:"))]
        found.append(f"{pid} {' '.join(fields)} {command}")
    return found


def _check_counts(client: Client, job: str, total: int) -> list[dict[str, Any]]:
    """The job completed with every input succeeded, and its counters add up; its inputs."""
    found = client.results(job)
    counts = found["job"]["counts"]
    assert counts["total"] == counts["succeeded"] == total, counts
    assert sum(counts[name] for name in counts if name != "total") == total, counts
    items: list[dict[str, Any]] = found["inputs"]
    assert [item["status"] for item in items] == ["SUCCEEDED"] * total, items
    return items


@pytest.mark.postgres
def test_a_worker_killed_mid_input_its_inputs_run_again_on_another_after_the_lease(
    pg_url: str, tmp_path: Path
) -> None:
    keys = _prepare(pg_url, tmp_path / "data" / "blobs")
    env = jobline_env(
        JOBLINE_DATABASE_URL=pg_url,
        JOBLINE_DATA_DIR=str(tmp_path / "data"),
        JOBLINE_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        _serve(tmp_path, port, slots=0, env=env),
        _worker(tmp_path, url, keys.worker, "fault-a", slots=2, env=env) as a,
        _worker(tmp_path, url, keys.worker, "fault-b", slots=2, env=env) as b,
        Client(url, keys.user) as client,
    ):
        workers = {"fault-a": a, "fault-b": b}
        job = client.submit("sleep", ["5", "5"])["identifier"]

        def held() -> dict[str, dict[str, Any]]:
            return _inputs(pg_url, job)

        until(lambda: all(i["status"] == "RUNNING" for i in held().values()), 30.0, "claimed")
        victim_name = held()["0"]["lease_owner"]
        victim = workers[victim_name]
        survivor_name = next(name for name in workers if name != victim_name)
        lost = {source for source, i in held().items() if i["lease_owner"] == victim_name}
        # A model process (under its fork server) runs each of its inputs before it is killed.
        until(
            lambda: len(model_processes(victim.pid)) == len(lost),
            30.0,
            "its model processes run",
        )
        killed_at = datetime.now(UTC)
        left = victim.kill()
        # Its model processes do not run on (they would run the input twice at once).
        until(
            lambda: not any(alive(p) for p in left),
            5.0,
            f"{victim_name}'s children end",
            explain=lambda: f"still alive: {_described(p for p in left if alive(p))}",
        )

        def rerun() -> bool:
            now = held()
            return all((now[s]["status"], now[s]["attempts"]) == ("RUNNING", 2) for s in lost)

        until(rerun, LEASE_SECONDS + 10.0, "the lost inputs run again")
        owners = {s: i["lease_owner"] for s, i in held().items() if s in lost}
        assert set(owners.values()) == {survivor_name}, owners
        until(lambda: _all_done(client, [job]), RUN_SECONDS, "the job completes")
        items = _check_counts(client, job, 2)
        attempts = {item["source"]: item["attempts"] for item in items}
        assert attempts == {s: 2 if s in lost else 1 for s in ("0", "1")}
        reruns = [item for item in items if item["source"] in lost]
        rerun_seconds = min(
            (datetime.fromisoformat(item["started_at"]) - killed_at).total_seconds()
            for item in reruns
        )
        print(
            f"\nlease-expiry rerun: {rerun_seconds:.2f} s after kill -9 (lease {LEASE_SECONDS:g} s)"
        )
        assert LEASE_SECONDS - 1.0 <= rerun_seconds <= LEASE_SECONDS + 2.0


def test_serve_killed_and_restarted_with_its_embedded_worker_loses_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = jobline_env(JOBLINE_DATA_DIR=str(data), JOBLINE_LEASE_SECONDS=str(LEASE_SECONDS))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sqlite_url = f"sqlite:///{data / 'jobline.db'}"
    with _serve(tmp_path, port, slots=2, env=env) as first:
        keys = _prepare(sqlite_url, data / "blobs")
        with Client(url, keys.user) as client:
            submitted = [client.submit("sleep", ["1"] * 4)["identifier"] for _ in range(3)]
            until(
                lambda: _succeeded(client, submitted[0]) >= 1,
                30.0,
                "the first input ran",
                explain=first.output,
            )
        left = first.kill()
    until(
        lambda: not any(alive(p) for p in left),
        20.0,  # a model process still starting (importing) ends once it has started
        "the killed server's children end",
        explain=lambda: f"still alive: {_described(p for p in left if alive(p))}",
    )
    with (
        _serve(tmp_path, port, slots=2, env=env, name="serve again"),
        Client(url, keys.user) as client,
    ):
        submitted.append(client.submit("sleep", ["0.1"] * 2)["identifier"])
        until(lambda: _all_done(client, submitted), RUN_SECONDS, "every job completes")
        for job, total in zip(submitted, [4, 4, 4, 2], strict=True):
            items = _check_counts(client, job, total)
            assert all(1 <= item["attempts"] <= 2 for item in items), items


@pytest.mark.postgres
def test_serve_restarted_under_a_remote_worker_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    keys = _prepare(pg_url, tmp_path / "data" / "blobs")
    env = jobline_env(
        JOBLINE_DATABASE_URL=pg_url,
        JOBLINE_DATA_DIR=str(tmp_path / "data"),
        JOBLINE_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _worker(tmp_path, url, keys.worker, "patient", slots=2, env=env) as worker:
        with _serve(tmp_path, port, slots=0, env=env) as first, Client(url, keys.user) as client:
            worker.wait_for("working for")
            submitted = [client.submit("sleep", ["1"] * 4)["identifier"] for _ in range(3)]
            until(
                lambda: _succeeded(client, submitted[0]) >= 1,
                30.0,
                "the first input ran",
                explain=first.output,
            )
            first.kill()
        with (
            _serve(tmp_path, port, slots=0, env=env, name="serve again"),
            Client(url, keys.user) as client,
        ):
            submitted.append(client.submit("sleep", ["0.1"] * 2)["identifier"])
            until(lambda: _all_done(client, submitted), RUN_SECONDS, "every job completes")
            for job, total in zip(submitted, [4, 4, 4, 2], strict=True):
                items = _check_counts(client, job, total)
                assert all(1 <= item["attempts"] <= 2 for item in items), items
        assert worker.process.poll() is None, worker.output()  # it waited for the server


@contextmanager
def _own_database(tmp_path: Path) -> Iterator[tuple[OwnPostgres, str, Keys]]:
    """A PostgreSQL of the test's own with a migrated database ``jobline``, its URL, and the
    test's users' keys."""
    with own_postgres(free_port()) as postgres:
        admin = create_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE jobline"))
        admin.dispose()
        url = postgres.url("jobline")
        conftest._prepare(make_engine(url), tmp_path / "template-blobs")
        yield postgres, url, _prepare(url, tmp_path / "data" / "blobs")


@pytest.mark.postgres
def test_postgres_stopped_for_ten_seconds_server_and_workers_recover(tmp_path: Path) -> None:
    with _own_database(tmp_path) as (postgres, url, keys):
        # The default lease (30 s) outlives the outage: nothing needs to run twice.
        env = jobline_env(JOBLINE_DATABASE_URL=url, JOBLINE_DATA_DIR=str(tmp_path / "data"))
        port = free_port()
        server_url = f"http://127.0.0.1:{port}"
        with (
            _serve(tmp_path, port, slots=1, env=env) as server,
            _worker(tmp_path, server_url, keys.worker, "steady", slots=2, env=env) as worker,
            Client(server_url, keys.user) as client,
        ):
            submitted = [client.submit("sleep", ["1.5"] * 4)["identifier"] for _ in range(3)]
            until(
                lambda: _succeeded(client, submitted[0]) >= 1,
                30.0,
                "the first input ran",
                explain=lambda: server.output() + worker.output(),
            )
            postgres.stop()
            stopped = time.monotonic()
            # Meanwhile the server answers 503 and the workers keep what they hold.
            until(lambda: _get(client, submitted[0]) is None, 10.0, "the server notices")
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))  # the outage
            postgres.start()
            until(
                lambda: _all_done(client, submitted),
                RUN_SECONDS,
                "every job completes",
                explain=lambda: server.output()[-3000:] + worker.output()[-3000:],
            )
            submitted.append(client.submit("sleep", ["0.1"] * 2)["identifier"])
            until(lambda: _all_done(client, submitted), 30.0, "a new job completes")
            for job, total in zip(submitted, [4, 4, 4, 2], strict=True):
                items = _check_counts(client, job, total)
                assert [item["attempts"] for item in items] == [1] * total, items
            assert server.process.poll() is None and worker.process.poll() is None


@pytest.mark.postgres
def test_a_database_blip_under_long_inputs_costs_the_embedded_worker_no_lease(
    tmp_path: Path,
) -> None:
    with _own_database(tmp_path) as (postgres, url, keys):
        env = jobline_env(
            JOBLINE_DATABASE_URL=url,
            JOBLINE_DATA_DIR=str(tmp_path / "data"),
            JOBLINE_LEASE_SECONDS=str(LEASE_SECONDS),
        )
        port = free_port()
        server_url = f"http://127.0.0.1:{port}"
        with (
            _serve(tmp_path, port, slots=1, env=env) as server,
            Client(server_url, keys.user) as client,
        ):
            # The embedded worker holds both inputs: one runs, one waits for the slot.
            job = client.submit("sleep", ["8", "8"])["identifier"]
            until(lambda: len(model_processes(server.pid)) == 1, 30.0, "the first input runs")
            with _worker(tmp_path, server_url, keys.worker, "idle", slots=1, env=env) as worker:
                postgres.stop()
                postgres.start()  # away for a second or two: much less than the lease
                until(
                    lambda: _all_done(client, [job]),
                    RUN_SECONDS,
                    "the job completes",
                    explain=lambda: server.output()[-3000:] + worker.output()[-3000:],
                )
                # Its heartbeats went on: the idle worker never had a lease to take over.
                items = _check_counts(client, job, 2)
                assert [item["attempts"] for item in items] == [1, 1], items


def test_a_model_that_spins_and_forks_is_killed_at_its_timeout_with_all_it_started(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = jobline_env(JOBLINE_DATA_DIR=str(data))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _serve(tmp_path, port, slots=2, env=env) as server:
        keys = _prepare(f"sqlite:///{data / 'jobline.db'}", data / "blobs")
        with Client(url, keys.user) as client:
            pid_files = [tmp_path / f"runaway-{n}.pids" for n in range(2)]
            job = client.submit(
                "runaway", [str(path) for path in pid_files], timeout=RUNAWAY_TIMEOUT
            )
            until(
                lambda: all(p.exists() for p in pid_files),
                30.0,
                "the models started",
                explain=lambda: str(client.results(job["identifier"])["inputs"]),
            )
            started_by = []
            for path in pid_files:
                pgid, *pids = (int(word) for word in path.read_text().split())
                orphan = int(Path(f"{path}.orphan").read_text())
                started_by.append((pgid, {identity(pid) for pid in [*pids, orphan]} - {None}))
            until(
                lambda: client.get(job["identifier"])["status"] == "TIMEDOUT",
                RUNAWAY_TIMEOUT + 10.0,
                "the job times out",
            )
            items = client.results(job["identifier"])["inputs"]
            assert [item["status"] for item in items] == ["TIMEDOUT"] * 2
            said = f"timed out after {RUNAWAY_TIMEOUT:g} s"
            assert all(said in item["error"] for item in items), items
            for pgid, processes in started_by:
                until(
                    lambda: not group(pgid) and not any(alive(p) for p in processes),  # noqa: B023
                    5.0,
                    f"process group {pgid} is gone",
                    explain=lambda: str(group(pgid)),  # noqa: B023
                )
            after = client.submit("echo", ["still here"])["identifier"]
            until(lambda: _all_done(client, [after]), 30.0, "the worker runs on")
        assert server.process.poll() is None
