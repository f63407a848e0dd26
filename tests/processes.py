"""Real ``jobline`` processes for the fault tests, and what ``/proc`` says about processes.

Every process is started in a ``with`` block that kills it, and every process it started
(found through ``/proc`` before it is killed), on the way out, whatever happened inside.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

JOBLINE = str(Path(sys.executable).parent / "jobline")
REPO = Path(__file__).resolve().parent.parent
START_SECONDS = 60.0  # until a process prints that it is up
STOP_SECONDS = 15.0  # from a signal to exit
POLL_SECONDS = 0.05

ProcessId = tuple[int, int]  # pid and start time (clock ticks since boot): pids are reused


def jobline_env(**variables: str) -> dict[str, str]:
    """The environment of a ``jobline`` process: no ``JOBLINE_*`` from the developer's shell,
    the test fixture models importable, these variables on top."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("JOBLINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return {**env, **variables}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Running:
    """A started process and everything it printed so far."""

    name: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    orphans: set[ProcessId] = field(default_factory=set)  # what it had started when killed

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, marker: str, seconds: float = START_SECONDS) -> str:
        """The first line holding ``marker``, waiting for it up to ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            found = next((line for line in list(self.lines) if marker in line), None)
            if found is not None:
                return found
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited ({self.process.returncode}) before {marker!r}:\n"
                    f"{self.output()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name}: no {marker!r} in {seconds} s:\n{self.output()}")
            time.sleep(POLL_SECONDS)

    def kill(self) -> set[ProcessId]:
        """SIGKILL the process alone (its children are left to fend for themselves); what it
        had started, as it was just before."""
        left = descendants(self.pid)
        self.orphans |= left
        self.process.kill()
        self.process.wait(STOP_SECONDS)
        return left


@contextmanager
def started(
    name: str, command: Sequence[str], *, env: dict[str, str], cwd: Path
) -> Iterator[Running]:
    """``command`` running until the block ends; then it and all it started are killed."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=cwd,
    )
    running = Running(name, process)
    assert process.stdout is not None
    stream = process.stdout

    def pump() -> None:  # keep the pipe drained, so the process never blocks on it
        for line in stream:
            running.lines.append(line)

    reader = threading.Thread(target=pump, name=f"pump-{name}", daemon=True)
    reader.start()
    try:
        yield running
    finally:
        left = descendants(process.pid) if process.poll() is None else set()
        if process.poll() is None:
            process.kill()
        process.wait(STOP_SECONDS)
        kill_all(left | running.orphans)
        reader.join(STOP_SECONDS)
        stream.close()


def until(
    check: Callable[[], bool], seconds: float, what: str, *, explain: Callable[[], str] = str
) -> None:
    """Poll ``check`` until it holds, failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached in {seconds} s\n{explain()}")
        time.sleep(POLL_SECONDS)


def wait_healthy(
    url: str, seconds: float = START_SECONDS, client: httpx.Client | None = None
) -> None:
    def healthy() -> bool:
        try:
            answer = (client or httpx).get(f"{url}/healthz", timeout=2.0)
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    until(healthy, seconds, f"{url}/healthz answers 200")


# --- /proc ---


def _stat(pid: int) -> tuple[str, int, int, int, int] | None:
    """State, parent pid, process group, start time and session of ``pid``; None when it is
    gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19]), int(fields[3])


def _all() -> dict[int, tuple[str, int, int, int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def identity(pid: int) -> ProcessId | None:
    stat = _stat(pid)
    return None if stat is None else (pid, stat[3])


def alive(process: ProcessId) -> bool:
    """Whether this very process (not a later one with its pid) still runs; zombies do not."""
    stat = _stat(process[0])
    return stat is not None and stat[3] == process[1] and stat[0] not in ("Z", "X")


def descendants(pid: int) -> set[ProcessId]:
    """Every process ``pid`` started, and they started, and so on, that is still running."""
    table = _all()
    children: dict[int, list[int]] = {}
    for child, (_, parent, *_) in table.items():
        children.setdefault(parent, []).append(child)
    found: set[ProcessId] = set()
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.add((child, table[child][3]))
        todo += children.get(child, [])
    return {process for process in found if alive(process)}


def model_processes(pid: int) -> set[ProcessId]:
    """The model processes of the worker ``pid`` that are serving: the processes it started
    (through its fork server) that lead a session of their own, as a model process does once
    it is ready for inputs."""
    return {
        process for process in descendants(pid) if (_stat(process[0]) or ())[4:] == (process[0],)
    }


def group(pgid: int) -> set[ProcessId]:
    """The live processes of process group ``pgid``."""
    return {
        (pid, stat[3])
        for pid, stat in _all().items()
        if stat[2] == pgid and stat[0] not in ("Z", "X")
    }


def kill_all(processes: set[ProcessId]) -> None:
    for process in processes:
        if alive(process):
            try:
                os.kill(process[0], signal.SIGKILL)
            except ProcessLookupError:
                pass
