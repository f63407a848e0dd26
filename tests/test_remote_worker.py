"""Remote workers: ``Worker(HttpWorkSource(...))`` against a real server on a real port.

The server is the app under uvicorn in a background thread, with no embedded worker, over the
test database (SQLite and PostgreSQL). Workers use worker keys; the acceptance test at the end
runs ``jobline serve --worker-slots 0`` and ``jobline worker`` as real processes.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from jobline import Client, errors
from jobline.api.app import create_app
from jobline.cli import app as cli
from jobline.core import auth
from jobline.domain.records import KeyKind, Role
from jobline.domain.workers import WorkerInfo
from jobline.models.base import ModelCode, Result
from jobline.settings import Settings
from jobline.store import Store, catalog
from jobline.worker.http import HttpWorkSource
from jobline.worker.loop import Worker
from tests import test_acceptance as acceptance
from tests.conftest import MakeUser
from tests.fixture_models import Spawner
from tests.servers import bound_socket, serving
from tests.test_execution import _alive

WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
MAX_REQUEST_BYTES = 200_000  # small, so that an output file can be over it

pytestmark = pytest.mark.timeout(180)


class Blob(ModelCode):
    """Makes an output file of as many zero bytes as its input says."""

    identifier = "blob"
    name = "Blob"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        size = int(parts["input"])
        return Result(outputs={"results.json": {"size": size}}, files={"blob.bin": bytes(size)})


@pytest.fixture
def server_app(store: Store, settings: Settings) -> FastAPI:
    with store.write() as conn:
        catalog.register(conn, Blob.name, Blob.description, Blob.model_version())
    return create_app(store, settings.model_copy(update={"max_request_bytes": MAX_REQUEST_BYTES}))


@pytest.fixture
def server(server_app: FastAPI) -> Iterator[str]:
    """The root URL of a jobline server with no worker of its own."""
    sock = bound_socket()
    with sock, serving(server_app, sock) as url:
        yield url


@pytest.fixture
def worker_key(store: Store, make_user: MakeUser) -> str:
    robot, _ = make_user("robot")
    return auth.create_key(store, robot, KeyKind.WORKER).token


@pytest.fixture
def ann(server: str, make_user: MakeUser) -> Iterator[Client]:
    """A member's SDK client on the server."""
    _, key = make_user("ann")
    with Client(server, key) as client:
        yield client


def _burst(url: str, key: str, **options: Any) -> int:
    """Run a remote worker until the queue is empty; how many inputs it ran."""
    source = HttpWorkSource(url, key, long_poll_seconds=0)
    try:
        return Worker(source, **options).run_burst()
    finally:
        source.close()


def _until(check: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(POLL_SECONDS)


def _outputs(client: Client, job: str) -> dict[str, Any]:
    return {i["source"]: (i["status"], i["outputs"]) for i in client.results(job)["inputs"]}


def test_a_remote_worker_runs_jobs_as_the_embedded_one_does(
    server: str, worker_key: str, ann: Client, drain: Callable[[], int]
) -> None:
    texts = ["I love it", "I hate it", "It is a chair", "Meh."]
    remote = ann.submit("sentiment", texts)
    assert _burst(server, worker_key, slots=2, name="remote-1") == len(texts)
    done = ann.get(remote["identifier"])
    assert (done["status"], done["counts"]["succeeded"]) == ("COMPLETED", len(texts))

    local = ann.submit("sentiment", texts)
    assert drain() == len(texts)
    assert _outputs(ann, remote["identifier"]) == _outputs(ann, local["identifier"])
    assert {e["actor"] for e in ann.events(remote["identifier"])} >= {"remote-1"}


def test_output_files_travel_up_and_one_over_the_limit_fails_its_input(
    server: str, worker_key: str, ann: Client
) -> None:
    job = ann.submit("blob", {"small": {"input": "1000"}, "big": {"input": "300000"}})
    assert _burst(server, worker_key, slots=2) == 2
    items = {i["source"]: i for i in ann.results(job["identifier"])["inputs"]}
    assert items["small"]["status"] == "SUCCEEDED"
    assert ann.output_file(job["identifier"], "small", "blob.bin") == bytes(1000)
    assert items["big"]["status"] == "FAILED"
    assert "could not be uploaded" in items["big"]["error"]
    assert str(MAX_REQUEST_BYTES) in items["big"]["error"]
    assert ann.get(job["identifier"])["status"] == "COMPLETED"


def test_a_report_over_the_request_limit_is_413_naming_the_limit(
    server: str, worker_key: str
) -> None:
    report = {"worker": "w", "outcomes": []}
    files = [("report", ("report.json", json.dumps(report).encode())), ("1/big", bytes(300_000))]
    answer = httpx.post(
        f"{server}/v1/work/complete",
        files=files,
        headers={"Authorization": f"Bearer {worker_key}"},
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large"
    assert str(MAX_REQUEST_BYTES) in answer.json()["message"]


def test_a_report_with_numbers_json_cannot_hold_is_400_naming_them(
    server: str, worker_key: str
) -> None:
    outcome = (
        '{"input_id": 1, "job_id": 1, "job_identifier": "j", "lease_owner": "w",'
        ' "status": "SUCCEEDED", "started_at": "2026-12-02T10:00:00Z",'
        ' "finished_at": "2026-12-02T10:00:01Z", "cpu_seconds": 1e999,'
        ' "outputs": {"results.json": {"ratio": NaN}}}'
    )
    report = f'{{"worker": "w", "outcomes": [{outcome}]}}'
    answer = httpx.post(
        f"{server}/v1/work/complete",
        files=[("report", ("report.json", report.encode()))],
        headers={"Authorization": f"Bearer {worker_key}"},
    )
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert "cpu_seconds" in message and "finite" in message
    assert "outputs" in message and "NaN or Infinity" in message


def test_user_keys_may_not_work(server: str, make_user: MakeUser) -> None:
    _, key = make_user("mallory")
    headers = {"Authorization": f"Bearer {key}"}
    calls = [
        ("POST", "/v1/work/claim", {"json": {"worker": "w"}}),
        ("POST", "/v1/work/heartbeat", {"json": {"worker": "w", "input_ids": [1]}}),
        ("GET", "/v1/work/parts/a/b", {"params": {"worker": "w"}}),
    ]
    for method, path, options in calls:
        answer = httpx.request(method, f"{server}{path}", headers=headers, **options)
        assert answer.status_code == 403, path
        assert "worker key" in answer.json()["message"]

    source = HttpWorkSource(server, key, long_poll_seconds=0)
    with pytest.raises(errors.NotAllowed):
        Worker(source).run_burst()
    source.close()
    assert source.refused is not None and "worker key" in source.refused.message


def test_a_worker_reads_only_parts_of_inputs_it_holds(
    server: str, worker_key: str, store: Store, make_user: MakeUser, ann: Client
) -> None:
    robot2, _ = make_user("robot2")
    other_key = auth.create_key(store, robot2, KeyKind.WORKER).token
    job = ann.submit("echo", ["first", "second"])
    mine = HttpWorkSource(server, worker_key, long_poll_seconds=0)
    theirs = HttpWorkSource(server, other_key, long_poll_seconds=0)
    (held,) = mine.claim(WorkerInfo("w1", "h", 1, None, 1, 0), 1)
    theirs.heartbeat(WorkerInfo("w2", "h", 2, None, 1, 0), [])  # registers w2
    assert mine.read_part(held.parts["input"]) == b"first"

    queued = next(i for i in ann.results(job["identifier"])["inputs"] if i["source"] != held.source)
    assert queued["status"] == "QUEUED"

    def part(key: str, worker: str, blob_key: str) -> httpx.Response:
        return httpx.get(
            f"{server}/v1/work/parts/{blob_key}",
            params={"worker": worker},
            headers={"Authorization": f"Bearer {key}"},
        )

    assert part(other_key, "w2", held.parts["input"]).status_code == 404
    assert part(other_key, "w1", held.parts["input"]).status_code == 403  # not its name
    unknown = f"{held.job_identifier}/0123456789abcdef01234567"
    answer = part(worker_key, "w1", unknown)
    assert answer.status_code == 404 and "holds no lease" in answer.json()["message"]
    mine.close()
    theirs.close()


def test_a_running_input_of_a_canceled_job_stops_within_seconds(
    server: str, worker_key: str, ann: Client
) -> None:
    source = HttpWorkSource(server, worker_key)
    worker = Worker(source, slots=1, name="sleepy")
    job = ann.submit("sleep", ["60"])
    worker.start()
    try:
        _until(lambda: ann.get(job["identifier"])["counts"]["running"] == 1)
        ann.cancel(job["identifier"])
        _until(lambda: _outputs(ann, job["identifier"])["0"][0] == "CANCELED", 10.0)
        # Its only slot is free again: new work runs at once.
        after = ann.submit("echo", ["next"])
        _until(lambda: ann.get(after["identifier"])["status"] == "COMPLETED", 10.0)
    finally:
        source.interrupt()
        worker.stop()
        source.close()


def test_an_idle_remote_worker_starts_new_work_at_once_and_stops_at_once(
    server: str, worker_key: str, ann: Client
) -> None:
    source = HttpWorkSource(server, worker_key)  # long polls of 20 s
    worker = Worker(source, slots=1)
    worker.start()
    try:
        time.sleep(0.5)  # let it go idle: it now waits in a long poll
        job = ann.submit("echo", ["hello"])
        _until(lambda: ann.get(job["identifier"])["status"] == "COMPLETED", 5.0)
    finally:
        source.interrupt()
        stopping = time.monotonic()
        worker.stop()
        source.close()
    assert time.monotonic() - stopping < 3.0


def test_a_worker_stopped_past_its_grace_kills_what_runs_and_leaves_it_to_its_lease(
    server: str, worker_key: str, ann: Client, store: Store, tmp_path: Path
) -> None:
    with store.write() as conn:
        catalog.register(conn, Spawner.name, Spawner.description, Spawner.model_version())
    pid_file = tmp_path / "grandchild.pid"
    source = HttpWorkSource(server, worker_key)
    worker = Worker(source, slots=1, name="impatient")
    job = ann.submit("spawner", [str(pid_file)])
    worker.start()
    try:
        _until(lambda: pid_file.exists() and pid_file.read_text() != "")
    finally:
        source.interrupt()
        worker.stop(timeout=0.5)
        source.close()
    _until(lambda: not _alive(int(pid_file.read_text())), 5.0)  # killed with its model
    (item,) = ann.results(job["identifier"])["inputs"]
    assert item["status"] in ("QUEUED", "RUNNING")  # held, not reported: the lease will expire


def test_network_errors_are_retried_until_the_server_answers(
    server_app: FastAPI, worker_key: str, ann: Client
) -> None:
    job = ann.submit("echo", ["patience"])
    sock = bound_socket()  # bound but not listening: connections are refused
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ran: list[int] = []
    burst = threading.Thread(target=lambda: ran.append(_burst(url, worker_key)), daemon=True)
    burst.start()
    time.sleep(1.0)  # the worker meets refused connections meanwhile
    assert burst.is_alive() and not ran
    with sock, serving(server_app, sock):
        burst.join(WAIT_SECONDS)
    assert ran == [1]
    assert ann.get(job["identifier"])["status"] == "COMPLETED"


def test_the_registry_lists_workers_for_admins(
    server: str, worker_key: str, make_user: MakeUser, ann: Client, drain: Callable[[], int]
) -> None:
    _burst(server, worker_key, slots=3, models=["sentiment", "echo"], name="gpu-box")
    drain()  # the embedded worker of the tests, "test-worker", registers too
    _, admin_key = make_user("root", role=Role.ADMIN)
    with Client(server, admin_key) as admin:
        found = {w["name"]: w for w in admin.workers()}
    remote = found["gpu-box"]
    assert (remote["models"], remote["slots"], remote["busy"]) == (["sentiment", "echo"], 3, 0)
    assert (remote["host"], remote["alive"]) == (socket.gethostname(), True)
    assert remote["access_key"] == worker_key.split(".")[0]
    assert (found["test-worker"]["models"], found["test-worker"]["access_key"]) == (None, "")

    with pytest.raises(errors.NotAllowed):
        ann.workers()
    taken = httpx.post(
        f"{server}/v1/work/claim",
        json={"worker": "test-worker"},
        headers={"Authorization": f"Bearer {worker_key}"},
    )
    assert taken.status_code == 403 and "another access key" in taken.json()["message"]

    shown = CliRunner().invoke(cli, ["workers", "--url", server, "--key", admin_key])
    assert shown.exit_code == 0, shown.output
    header, *rows = shown.stdout.splitlines()
    assert header.split()[:5] == ["NAME", "HOST", "MODELS", "SLOTS", "BUSY"]
    line = next(row.split() for row in rows if row.startswith("gpu-box"))
    assert line[2:5] == ["sentiment,echo", "3", "0"] and line[-1] == "yes"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_serve_without_workers_and_a_worker_process(tmp_path: Path) -> None:
    port = acceptance._free_port()
    data = str(tmp_path / "data")
    serve = [acceptance.JOBLINE, "serve", "--port", str(port), "--data-dir", data]
    with _process([*serve, "--worker-slots", "0"], tmp_path) as (process, lines):
        banner = acceptance._read_until(lines, "jobline serving")
        server = acceptance.Server(process, f"http://127.0.0.1:{port}", banner, tmp_path)
        acceptance._wait_healthy(server.url)
        keys = [
            _command(tmp_path, "keys", "create", "admin@jobline.local", *flags, "--data-dir", data)
            for flags in (["--worker"], [])
        ]
        worker = [acceptance.JOBLINE, "worker", "--server", server.url, "--key", keys[0]]
        worker += ["--slots", "2", "--name", "far-away"]
        with _process(worker, tmp_path) as (remote, remote_lines):
            acceptance._read_until(remote_lines, "working for")
            out = server.jobline(server.demo_key, "submit", "sentiment", "a", "b", "c", "--wait")
            assert out.split()[3] == "COMPLETED", out
            listed = server.jobline(keys[1], "workers")
            assert any(row.split()[0] == "far-away" for row in listed.splitlines()), listed

            # Stopped while it runs an input, it finishes and reports it, then exits 0.
            # Long enough that a poll (a CLI process each, slow on a loaded machine) sees it run.
            job = json.loads(server.jobline(server.demo_key, "submit", "sleep", "6", "--json"))
            _until(lambda: _status(server, job["identifier"])["counts"]["running"] == 1)
            remote.send_signal(signal.SIGTERM)
            assert remote.wait(timeout=acceptance.STOP_SECONDS) == 0
            assert _status(server, job["identifier"])["status"] == "COMPLETED"
        assert server.interrupt() == 0


def _status(server: acceptance.Server, job: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(server.jobline(server.demo_key, "status", job, "--json"))
    return found


def _command(cwd: Path, *args: str) -> str:
    """A server-side ``jobline`` command's stdout, stripped."""
    done = subprocess.run(
        [acceptance.JOBLINE, *args],
        env=acceptance._clean_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=acceptance.COMMAND_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def _process(
    command: list[str], cwd: Path
) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str | None]]]:
    """A ``jobline`` process with its output lines on a queue; killed on the way out."""
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=acceptance._clean_env(),
        cwd=cwd,
    ) as process:
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(
            target=acceptance._pump, args=(process.stdout, lines), daemon=True
        )
        reader.start()
        try:
            yield process, lines
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            reader.join(acceptance.STOP_SECONDS)
