"""End to end: a real ``jobline serve`` on a real port, driven by the real ``jobline`` command.

What a new user does on day one: start the server, take the demo key it prints, submit a job
and wait for it, read the results and the history; stop the server with Ctrl-C, start it again
on the same data and find everything still there. Default SQLite in a temporary data dir.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

JOBLINE = str(Path(sys.executable).parent / "jobline")
START_SECONDS = 60.0  # until the server prints that it is serving, and until /healthz answers
STOP_SECONDS = 15.0  # from SIGINT to exit
COMMAND_SECONDS = 120.0  # one CLI call, --wait included
POLL_SECONDS = 0.1
KEY_MARKER = "access key (shown once): "

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    banner: list[str]  # what it printed up to "jobline serving"
    cwd: Path

    @property
    def demo_key(self) -> str:
        line = next(line for line in self.banner if KEY_MARKER in line)
        return line.split(KEY_MARKER, 1)[1].strip()

    def jobline(self, key: str, *args: str) -> str:
        """Run the ``jobline`` command against this server; its stdout."""
        env = {**_clean_env(), "JOBLINE_URL": self.url, "JOBLINE_KEY": key}
        done = subprocess.run(
            [JOBLINE, *args],
            env=env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            check=False,
        )
        assert done.returncode == 0, f"jobline {' '.join(args)}: {done.stderr}"
        return done.stdout

    def interrupt(self) -> int:
        """Ctrl-C the server; its exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=STOP_SECONDS)


def _clean_env() -> dict[str, str]:
    # The default SQLite in the data dir, whatever the developer's shell has set.
    env = {name: value for name, value in os.environ.items() if not name.startswith("JOBLINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    # Drain the server's output for as long as it runs, so a full pipe never blocks it.
    for line in stream:
        lines.put(line)
    lines.put(None)


def _read_until(lines: queue.Queue[str | None], marker: str) -> list[str]:
    deadline = time.monotonic() + START_SECONDS
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            pytest.fail(f"no {marker!r} within {START_SECONDS} s; output:\n{''.join(seen)}")
        if line is None:
            pytest.fail(f"jobline serve exited before {marker!r}; output:\n{''.join(seen)}")
        seen.append(line)
        if marker in line:
            return seen


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=POLL_SECONDS * 10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url}/healthz did not answer 200 within {START_SECONDS} s")
        time.sleep(POLL_SECONDS)


@contextmanager
def serving(data_dir: Path, cwd: Path) -> Iterator[Server]:
    """``jobline serve`` on a free port over ``data_dir``, killed on the way out if still up."""
    port = _free_port()
    command = [JOBLINE, "serve", "--port", str(port), "--data-dir", str(data_dir)]
    command += ["--worker-slots", "2"]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_clean_env(),
        cwd=cwd,
    ) as process:
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            banner = _read_until(lines, "jobline serving")
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url)
            yield Server(process, url, banner, cwd)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            reader.join(STOP_SECONDS)


def test_first_day_submit_wait_results_history_and_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(data_dir, tmp_path) as server:
        key = server.demo_key
        texts = ["I love it", "I hate it", "It is a chair"]
        submitted = server.jobline(
            key, "submit", "sentiment", *texts, "--name", "acceptance", "--wait"
        )
        word, serial, identifier, status = submitted.split()[:4]
        assert (word, status) == ("job", "COMPLETED"), submitted

        header, *inputs = server.jobline(key, "results", identifier).splitlines()
        assert header.split()[:4] == [word, serial, identifier, status]
        assert [line.split()[:2] for line in inputs] == [
            ["0", "SUCCEEDED"],
            ["1", "SUCCEEDED"],
            ["2", "SUCCEEDED"],
        ]
        first = json.loads(inputs[0].split(maxsplit=2)[2])  # compact JSON after the status
        assert first["results.json"]["data"]["result"]["classPredictions"][0]["class"] == "positive"

        document = tmp_path / "note.txt"
        document.write_text("from a file")
        parts = ["--file", f"doc={document}", "--input", "hi:input=hello"]
        mixed = json.loads(server.jobline(key, "submit", "echo", *parts, "--wait", "--json"))
        assert (mixed["status"], mixed["counts"]["succeeded"]) == ("COMPLETED", 2)
        echoed = json.loads(server.jobline(key, "results", mixed["identifier"], "--json"))
        texts_back = {i["source"]: i["outputs"]["results.json"]["text"] for i in echoed["inputs"]}
        assert texts_back == {"doc": "from a file", "hi": "hello"}
        wrote = server.jobline(key, "download", mixed["identifier"], "-o", "echo.zip")
        assert wrote.startswith("wrote echo.zip")
        with zipfile.ZipFile(tmp_path / "echo.zip") as archive:
            assert archive.read("doc/in.input") == b"from a file"
            assert set(archive.namelist()) == {
                "doc/in.input",
                "doc/results.json",
                "hi/in.input",
                "hi/results.json",
            }

        history = json.loads(server.jobline(key, "history", "--format", "json"))
        job = next(row for row in history if row["identifier"] == identifier)
        assert (job["status"], job["counts"]["total"], job["name"]) == (
            "COMPLETED",
            3,
            "acceptance",
        )
        header, *rows = server.jobline(key, "history").splitlines()
        assert header.split()[:2] == ["SERIAL", "IDENTIFIER"]
        assert [row.split()[:3] for row in rows][-1] == [serial, identifier[:8], "acceptance"]

        assert server.interrupt() == 0

    with serving(data_dir, tmp_path) as restarted:
        assert not any(KEY_MARKER in line for line in restarted.banner), restarted.banner
        history = json.loads(restarted.jobline(key, "history", "--format", "json"))
        assert [row["identifier"] for row in history] == [mixed["identifier"], identifier]
        assert restarted.interrupt() == 0
