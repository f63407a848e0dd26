"""PostgreSQL stopped while jobs run, with real processes: a PostgreSQL of the test's own
(``tests.postgres``), ``jobline serve`` with an embedded worker, and a ``jobline worker``.
Server and workers recover by themselves, and every job completes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobline import Client
from tests.faults import (
    RUN_SECONDS,
    all_done,
    check_counts,
    get,
    own_database,
    serving,
    short_lease_env,
    succeeded,
    working,
)
from tests.processes import free_port, jobline_env, model_processes, until

OUTAGE_SECONDS = 10.0  # how long PostgreSQL is away

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(120)]


def test_postgres_stopped_for_ten_seconds_server_and_workers_recover(tmp_path: Path) -> None:
    with own_database(tmp_path) as (postgres, url, keys):
        # The default lease (30 s) outlives the outage: nothing needs to run twice.
        env = jobline_env(JOBLINE_DATABASE_URL=url, JOBLINE_DATA_DIR=str(tmp_path / "data"))
        port = free_port()
        server_url = f"http://127.0.0.1:{port}"
        with (
            serving(tmp_path, port, slots=1, env=env) as server,
            working(tmp_path, server_url, keys.worker, "steady", slots=2, env=env) as worker,
            Client(server_url, keys.user) as client,
        ):
            submitted = [client.submit("sleep", ["1.5"] * 4)["identifier"] for _ in range(3)]
            until(
                lambda: succeeded(client, submitted[0]) >= 1,
                30.0,
                "the first input ran",
                explain=lambda: server.output() + worker.output(),
            )
            postgres.stop()
            stopped = time.monotonic()
            # Meanwhile the server answers 503 and the workers keep what they hold.
            until(lambda: get(client, submitted[0]) is None, 10.0, "the server notices")
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))  # the outage
            postgres.start()
            until(
                lambda: all_done(client, submitted),
                RUN_SECONDS,
                "every job completes",
                explain=lambda: server.output()[-3000:] + worker.output()[-3000:],
            )
            submitted.append(client.submit("sleep", ["0.1"] * 2)["identifier"])
            until(lambda: all_done(client, submitted), 30.0, "a new job completes")
            for job, total in zip(submitted, [4, 4, 4, 2], strict=True):
                items = check_counts(client, job, total)
                assert [item["attempts"] for item in items] == [1] * total, items
            assert server.process.poll() is None and worker.process.poll() is None


def test_a_database_blip_under_long_inputs_costs_the_embedded_worker_no_lease(
    tmp_path: Path,
) -> None:
    with own_database(tmp_path) as (postgres, url, keys):
        env = short_lease_env(url, tmp_path / "data")
        port = free_port()
        server_url = f"http://127.0.0.1:{port}"
        with (
            serving(tmp_path, port, slots=1, env=env) as server,
            Client(server_url, keys.user) as client,
        ):
            # The embedded worker holds both inputs: one runs, one waits for the slot.
            job = client.submit("sleep", ["8", "8"])["identifier"]
            until(lambda: len(model_processes(server.pid)) == 1, 30.0, "the first input runs")
            with working(tmp_path, server_url, keys.worker, "idle", slots=1, env=env) as worker:
                postgres.stop()
                postgres.start()  # away for a second or two: much less than the lease
                until(
                    lambda: all_done(client, [job]),
                    RUN_SECONDS,
                    "the job completes",
                    explain=lambda: server.output()[-3000:] + worker.output()[-3000:],
                )
                # Its heartbeats went on: the idle worker never had a lease to take over.
                items = check_counts(client, job, 2)
                assert [item["attempts"] for item in items] == [1, 1], items
