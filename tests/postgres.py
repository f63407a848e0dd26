"""A PostgreSQL server of the test's own: ``initdb`` into a temporary folder, its own port.

For tests that stop and start the database, or run it in a network namespace: never the
machine's shared server. As root, the server runs as the ``postgres`` user (PostgreSQL refuses
to run as root). Without the PostgreSQL binaries such a test skips, and fails with ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

START_SECONDS = 60  # pg_ctl -w waits this long for the server to start or stop


def binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``; skips the test (fails it in CI) without them."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
    initdb = found[-1] if found else None
    if initdb is None and (on_path := shutil.which("initdb")) is not None:
        initdb = Path(on_path)
    if initdb is None:
        message = "initdb (PostgreSQL server binaries) not found"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run this test")
        pytest.skip(message)
    return initdb.parent


def _version(path: Path) -> int:
    name = path.parent.parent.name
    return int(name) if name.isdigit() else 0


class OwnPostgres:
    """One PostgreSQL cluster in a temporary folder, listening on ``host``:``port`` and on a
    Unix socket in that folder; ``prefix`` runs its server elsewhere (``ip netns exec``)."""

    def __init__(
        self, root: Path, port: int, *, host: str = "127.0.0.1", prefix: Sequence[str] = ()
    ) -> None:
        self.root = root
        self.port = port
        self.host = host
        self.prefix = list(prefix)
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "postgres.log"
        self._bin = binaries()

    def url(self, database: str, *, host: str | None = None) -> str:
        """A URL over TCP (``host``, default the listening address)."""
        return f"postgresql+psycopg://postgres@{host or self.host}:{self.port}/{database}"

    def socket_url(self, database: str) -> str:
        """A URL over the Unix socket: reachable from any network namespace of this machine."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def init(self) -> None:
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.socket_dir, "postgres", "postgres")
        self._run(
            [],
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all samenet trust\n")  # the hosts on its own network too

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses={self.host} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            self.prefix,
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(START_SECONDS),
            "start",
        )

    def stop(self) -> None:
        self._run(
            [], "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", str(START_SECONDS), "stop"
        )

    def running(self) -> bool:
        done = subprocess.run(
            [*self._as_owner(), str(self._bin / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, prefix: list[str], tool: str, *args: str) -> None:
        command = [*prefix, *self._as_owner(), str(self._bin / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            pytest.fail(f"{' '.join(command)} failed: {done.stdout}{done.stderr}\n{log}")


@contextmanager
def own_postgres(
    port: int, *, host: str = "127.0.0.1", prefix: Sequence[str] = ()
) -> Iterator[OwnPostgres]:
    """A started PostgreSQL of the test's own, stopped and deleted when the block ends."""
    root = Path(tempfile.mkdtemp(prefix="jobline-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = OwnPostgres(root, port, host=host, prefix=prefix)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.data.exists() and server.running():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
