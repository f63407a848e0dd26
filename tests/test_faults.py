"""Faults, with real processes: workers killed, servers restarted, model code that never
ends. Each test starts ``jobline serve`` (and ``jobline worker``) processes, breaks something,
and checks that every job still completes with its counters right (see ``tests.faults``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from jobline import Client
from tests import conftest
from tests.faults import (
    LEASE_SECONDS,
    RUN_SECONDS,
    all_done,
    check_counts,
    described,
    input_rows,
    prepare,
    serving,
    short_lease_env,
    succeeded,
    working,
)
from tests.processes import (
    alive,
    free_port,
    group,
    identity,
    jobline_env,
    model_processes,
    until,
)

RUNAWAY_TIMEOUT = 8.0  # seconds: long enough for the model to start and fork on a busy machine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


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


@pytest.mark.postgres
def test_a_worker_killed_mid_input_its_inputs_run_again_on_another_after_the_lease(
    pg_url: str, tmp_path: Path
) -> None:
    keys = prepare(pg_url, tmp_path / "data" / "blobs")
    env = short_lease_env(pg_url, tmp_path / "data")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        serving(tmp_path, port, slots=0, env=env),
        working(tmp_path, url, keys.worker, "fault-a", slots=2, env=env) as a,
        working(tmp_path, url, keys.worker, "fault-b", slots=2, env=env) as b,
        Client(url, keys.user) as client,
    ):
        workers = {"fault-a": a, "fault-b": b}
        job = client.submit("sleep", ["5", "5"])["identifier"]

        def held() -> dict[str, dict[str, Any]]:
            return input_rows(pg_url, job)

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
            explain=lambda: f"still alive: {described(p for p in left if alive(p))}",
        )

        def rerun() -> bool:
            now = held()
            return all((now[s]["status"], now[s]["attempts"]) == ("RUNNING", 2) for s in lost)

        until(rerun, LEASE_SECONDS + 10.0, "the lost inputs run again")
        owners = {s: i["lease_owner"] for s, i in held().items() if s in lost}
        assert set(owners.values()) == {survivor_name}, owners
        until(lambda: all_done(client, [job]), RUN_SECONDS, "the job completes")
        items = check_counts(client, job, 2)
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
        # The target is lease + 2 s, which bench/throughput.py measures (3.0-3.2 s on
        # a 3 s lease: bench/RESULTS.md). The test only holds it to "after the lease, on the
        # next rounds", so a loaded machine's scheduling does not turn a timing into a failure.
        assert LEASE_SECONDS - 1.0 <= rerun_seconds <= LEASE_SECONDS + 5.0


def test_serve_killed_and_restarted_with_its_embedded_worker_loses_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = jobline_env(JOBLINE_DATA_DIR=str(data), JOBLINE_LEASE_SECONDS=str(LEASE_SECONDS))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sqlite_url = f"sqlite:///{data / 'jobline.db'}"
    with serving(tmp_path, port, slots=2, env=env) as first:
        keys = prepare(sqlite_url, data / "blobs")
        with Client(url, keys.user) as client:
            submitted = [client.submit("sleep", ["1"] * 4)["identifier"] for _ in range(3)]
            until(
                lambda: succeeded(client, submitted[0]) >= 1,
                30.0,
                "the first input ran",
                explain=first.output,
            )
        left = first.kill()
    until(
        lambda: not any(alive(p) for p in left),
        20.0,  # a model process still starting (importing) ends once it has started
        "the killed server's children end",
        explain=lambda: f"still alive: {described(p for p in left if alive(p))}",
    )
    with (
        serving(tmp_path, port, slots=2, env=env, name="serve again"),
        Client(url, keys.user) as client,
    ):
        _all_complete_after_the_restart(client, submitted)


def _all_complete_after_the_restart(client: Client, submitted: list[str]) -> None:
    """One more job on the restarted server; then every job completes, nothing counted twice."""
    submitted.append(client.submit("sleep", ["0.1"] * 2)["identifier"])
    until(lambda: all_done(client, submitted), RUN_SECONDS, "every job completes")
    for job, total in zip(submitted, [4, 4, 4, 2], strict=True):
        items = check_counts(client, job, total)
        assert all(1 <= item["attempts"] <= 2 for item in items), items


@pytest.mark.postgres
def test_serve_restarted_under_a_remote_worker_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    keys = prepare(pg_url, tmp_path / "data" / "blobs")
    env = short_lease_env(pg_url, tmp_path / "data")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with working(tmp_path, url, keys.worker, "patient", slots=2, env=env) as worker:
        with serving(tmp_path, port, slots=0, env=env) as first, Client(url, keys.user) as client:
            worker.wait_for("working for")
            submitted = [client.submit("sleep", ["1"] * 4)["identifier"] for _ in range(3)]
            until(
                lambda: succeeded(client, submitted[0]) >= 1,
                30.0,
                "the first input ran",
                explain=first.output,
            )
            first.kill()
        with (
            serving(tmp_path, port, slots=0, env=env, name="serve again"),
            Client(url, keys.user) as client,
        ):
            _all_complete_after_the_restart(client, submitted)
        assert worker.process.poll() is None, worker.output()  # it waited for the server


@pytest.mark.postgres
def test_two_nodes_and_two_remote_workers_run_every_input_exactly_once(
    pg_url: str, tmp_path: Path
) -> None:
    keys = prepare(pg_url, tmp_path / "data" / "blobs")
    env = short_lease_env(pg_url, tmp_path / "data")
    tally = tmp_path / "tally.log"
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    with (
        serving(tmp_path, ports[0], slots=1, env=env, name="node-0"),
        serving(tmp_path, ports[1], slots=1, env=env, name="node-1"),
        working(tmp_path, urls[0], keys.worker, "remote-0", slots=2, env=env),
        working(tmp_path, urls[1], keys.worker, "remote-1", slots=2, env=env),
        Client(urls[0], keys.user) as first,
        Client(urls[1], keys.user) as second,
    ):
        submitted = [
            (first, second)[n % 2].submit(
                "tally",
                [f"{n}-{i}" for i in range(10)],
                args={"tally": str(tally), "seconds": 0.02},
            )["identifier"]
            for n in range(20)
        ]
        until(lambda: all_done(second, submitted), RUN_SECONDS, "every job completes")
        for job in submitted:
            items = check_counts(first, job, 10)
            assert {item["attempts"] for item in items} == {1}, items
        actors = {event["actor"] for job in submitted for event in second.events(job)[1:]}
    runs = tally.read_text().split()
    assert sorted(runs) == sorted(f"{n}-{i}" for n in range(20) for i in range(10))
    assert len(actors) >= 2, actors  # the work was shared


def test_a_model_that_spins_and_forks_is_killed_at_its_timeout_with_all_it_started(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = jobline_env(JOBLINE_DATA_DIR=str(data))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(tmp_path, port, slots=2, env=env) as server:
        keys = prepare(f"sqlite:///{data / 'jobline.db'}", data / "blobs")
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
            until(lambda: all_done(client, [after]), 30.0, "the worker runs on")
        assert server.process.poll() is None
