"""Several hosts, one cut off: PostgreSQL and ``jobline serve`` on one host, a ``jobline
worker`` on each of two others (network namespaces on a private switch, see ``tests.netns``).
Unplugging a worker's host mid-job, its inputs run again on the other worker once their
lease expires, and the job completes; plugged in again, the late results are dropped.

Runs only as root with ``ip`` (and must run in CI).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobline import Client
from tests.faults import (
    LEASE_SECONDS,
    RUN_SECONDS,
    check_counts,
    create_migrated,
    input_rows,
    prepare,
    short_lease_env,
)
from tests.netns import inside, network
from tests.postgres import own_postgres
from tests.processes import JOBLINE, started, until

PORT = 8000  # on its own host, the server may take the usual port
PG_PORT = 5432  # and PostgreSQL its usual one: these hosts share no port with the machine

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(120)]


def test_a_worker_cut_off_mid_job_its_inputs_finish_on_the_other_after_the_lease(
    tmp_path: Path,
) -> None:
    with network(f"f{os.getpid() % 100_000}") as net:
        db_host, host_a, host_b = net.host("db", 1), net.host("a", 2), net.host("b", 3)
        with own_postgres(PG_PORT, host=db_host.address, prefix=db_host.exec) as postgres:
            # The test reaches PostgreSQL through its Unix socket, which no namespace hides.
            local_url = postgres.socket_url("jobline")
            admin_url = postgres.socket_url("postgres")
            create_migrated(admin_url, local_url, tmp_path / "template-blobs")
            keys = prepare(local_url, tmp_path / "data" / "blobs")
            # Over the network, as the other hosts see it.
            env = short_lease_env(postgres.url("jobline"), tmp_path / "data")
            url = f"http://{db_host.address}:{PORT}"
            serve = [*db_host.exec, JOBLINE, "serve", "--host", db_host.address]
            serve += ["--port", str(PORT), "--worker-slots", "0", "--no-demo"]
            with (
                started("serve", serve, env=env, cwd=tmp_path) as server,
                inside(db_host) as on_db_host,
                Client(url, keys.user) as client,
            ):
                server.wait_for("jobline serving")
                until(lambda: on_db_host(lambda: _healthy(url)), 60.0, "the server answers")
                workers = {}
                for name, host in (("worker-a", host_a), ("worker-b", host_b)):
                    command = [*host.exec, JOBLINE, "worker", "--server", url, "--name", name]
                    command += ["--key", keys.worker, "--slots", "2"]
                    workers[name] = (host, started(name, command, env=env, cwd=tmp_path))
                with workers["worker-a"][1] as a, workers["worker-b"][1] as b:
                    running = {"worker-a": a, "worker-b": b}
                    a.wait_for("working for")
                    b.wait_for("working for")
                    job = on_db_host(lambda: client.submit("sleep", ["6", "6"]))["identifier"]

                    def held() -> dict[str, dict[str, Any]]:
                        return input_rows(local_url, job)

                    until(
                        lambda: all(i["status"] == "RUNNING" for i in held().values()),
                        30.0,
                        "claimed",
                    )
                    victim = held()["0"]["lease_owner"]
                    survivor = next(name for name in workers if name != victim)
                    lost = {s for s, i in held().items() if i["lease_owner"] == victim}
                    net.cut(workers[victim][0])

                    def rerun() -> bool:
                        now = held()
                        return all(
                            (now[s]["status"], now[s]["attempts"], now[s]["lease_owner"])
                            == ("RUNNING", 2, survivor)
                            for s in lost
                        )

                    until(rerun, LEASE_SECONDS + 10.0, f"{survivor} runs {victim}'s inputs")
                    until(
                        lambda: on_db_host(lambda: client.get(job))["status"] == "COMPLETED",
                        RUN_SECONDS,
                        "the job completes",
                    )
                    items = on_db_host(lambda: check_counts(client, job, 2))
                    attempts = {item["source"]: item["attempts"] for item in items}
                    assert attempts == {s: 2 if s in lost else 1 for s in ("0", "1")}

                    # Back on the network, the cut-off worker's results come too late.
                    net.mend(workers[victim][0])
                    running[victim].wait_for("dropped: no longer held", 60.0)
                    assert on_db_host(lambda: check_counts(client, job, 2)) == items
                    assert running[victim].process.poll() is None  # it works on


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False
