"""What the fault tests share: the test's users, ``jobline serve`` and ``jobline worker``
processes, and looks at jobs through the API and at inputs in the database.

Leases are short here (``JOBLINE_LEASE_SECONDS``), so a lost input runs again within seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select, text

from jobline import Client, errors
from jobline.core import auth
from jobline.domain.records import KeyKind, Role
from jobline.store import Store, catalog
from jobline.store.engine import make_engine
from jobline.store.tables import inputs, jobs
from tests import conftest
from tests.fixture_models import Runaway, Tally
from tests.postgres import OwnPostgres, own_postgres
from tests.processes import (
    JOBLINE,
    ProcessId,
    Running,
    free_port,
    jobline_env,
    started,
    wait_healthy,
)

LEASE_SECONDS = 3.0
RUN_SECONDS = 60.0  # the longest the jobs of one test may take to complete


@dataclass
class Keys:
    user: str  # a member's access key
    worker: str  # a worker key
    admin: str


def prepare(url: str, blob_dir: Path) -> Keys:
    """Fixture models and the test's users in the database at ``url``."""
    store = Store.open(url, blob_dir)
    try:
        with store.write() as conn:
            for code in (Runaway, Tally):
                catalog.register(conn, code.name, code.description, code.model_version())
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


@contextmanager
def serving(
    cwd: Path, port: int, *, slots: int, env: dict[str, str], name: str = "serve"
) -> Iterator[Running]:
    """``jobline serve`` on 127.0.0.1:``port`` (no demo user), once it answers."""
    command = [JOBLINE, "serve", "--port", str(port), "--worker-slots", str(slots), "--no-demo"]
    with started(name, command, env=env, cwd=cwd) as server:
        server.wait_for("jobline serving")
        wait_healthy(f"http://127.0.0.1:{port}")
        yield server


@contextmanager
def working(
    cwd: Path, url: str, key: str, name: str, *, slots: int, env: dict[str, str]
) -> Iterator[Running]:
    """``jobline worker`` for the server at ``url``, once it works."""
    command = [JOBLINE, "worker", "--server", url, "--key", key, "--name", name]
    with started(name, [*command, "--slots", str(slots)], env=env, cwd=cwd) as worker:
        worker.wait_for("working for")
        yield worker


def input_rows(url: str, job: str) -> dict[str, dict[str, Any]]:
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


def get(client: Client, job: str) -> dict[str, Any] | None:
    """The job, or None while the server (or its database) does not answer."""
    try:
        return client.get(job)
    except (errors.JoblineError, httpx.TransportError):
        return None


def succeeded(client: Client, job: str) -> int:
    found = get(client, job)
    return -1 if found is None else int(found["counts"]["succeeded"])


def all_done(client: Client, identifiers: list[str]) -> bool:
    found = [get(client, job) for job in identifiers]
    return all(job is not None and job["status"] == "COMPLETED" for job in found)


def described(processes: Iterable[ProcessId]) -> list[str]:
    """A line per process that still runs: pid, state, parent, group, command."""
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


def check_counts(client: Client, job: str, total: int) -> list[dict[str, Any]]:
    """The job completed with every input succeeded, and its counters add up; its inputs."""
    found = client.results(job)
    counts = found["job"]["counts"]
    assert counts["total"] == counts["succeeded"] == total, counts
    assert sum(counts[name] for name in counts if name != "total") == total, counts
    items: list[dict[str, Any]] = found["inputs"]
    assert [item["status"] for item in items] == ["SUCCEEDED"] * total, items
    return items


def short_lease_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """The environment of a ``jobline`` server or worker on ``database_url`` whose leases
    last ``LEASE_SECONDS``, so a lost input runs again within seconds."""
    return jobline_env(
        JOBLINE_DATABASE_URL=database_url,
        JOBLINE_DATA_DIR=str(data_dir),
        JOBLINE_LEASE_SECONDS=str(LEASE_SECONDS),
    )


def create_migrated(admin_url: str, url: str, blob_dir: Path) -> None:
    """Create database ``jobline`` through ``admin_url``, then migrate it (at ``url``) and
    register the models, as the test session's template is."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE jobline"))
    admin.dispose()
    conftest._prepare(make_engine(url), blob_dir)


@contextmanager
def own_database(tmp_path: Path) -> Iterator[tuple[OwnPostgres, str, Keys]]:
    """A PostgreSQL of the test's own with a migrated database ``jobline``, its URL, and the
    test's users' keys."""
    with own_postgres(free_port()) as postgres:
        url = postgres.url("jobline")
        create_migrated(postgres.url("postgres"), url, tmp_path / "template-blobs")
        yield postgres, url, prepare(url, tmp_path / "data" / "blobs")
