"""``jobline worker``: run inputs for a jobline server from any machine, over HTTP.

The same worker loop as the server's embedded worker, behind the HTTP ``WorkSource``: it
long-polls the server for work, downloads input parts, runs model code in child processes,
heartbeats, and uploads outcomes. SIGTERM or SIGINT (Ctrl-C) stop it gently: it claims no
more, finishes and reports what it holds within the grace period, and exits 0; whatever
still runs then is killed and left to its lease, which expires and queues it again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Annotated

import typer

from jobline.cli.output import fail
from jobline.worker.http import HttpWorkSource
from jobline.worker.loop import Worker

GRACE_SECONDS = 30.0  # on SIGTERM: time to finish and report the inputs held
WATCH_SECONDS = 0.5  # how often the command checks that the server still accepts its key


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command to ``app``."""
    app.command()(worker)


def worker(
    server: Annotated[
        str,
        typer.Option("--server", envvar="JOBLINE_URL", help="the URL of a jobline server"),
    ],
    key: Annotated[
        str,
        typer.Option(
            "--key",
            envvar="JOBLINE_WORKER_KEY",
            help="a worker key, made by 'jobline keys create USER --worker' (or an admin's key)",
        ),
    ],
    models: Annotated[
        str | None,
        typer.Option(help="comma-separated models to run, e.g. sentiment,language (default: all)"),
    ] = None,
    slots: Annotated[
        int | None,
        typer.Option(
            min=1, envvar="JOBLINE_WORKER_SLOTS", help="inputs run at once (default: CPU count)"
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="a name unique among the workers (default: host:pid:random)"),
    ] = None,
    grace: Annotated[
        float,
        typer.Option(min=0, help="seconds to finish the inputs held when asked to stop"),
    ] = GRACE_SECONDS,
    memory_mib: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="JOBLINE_INPUT_MEMORY_MIB",
            help="the most memory (MiB) one input may use, with what it starts; 0: no limit",
        ),
    ] = 0,
) -> None:
    """Run inputs for a jobline server (on this machine, with the models installed here)."""
    served = None if models is None else [m.strip() for m in models.split(",") if m.strip()]
    if served == []:
        raise typer.BadParameter(f"{models!r} names no model", param_hint="--models")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per heartbeat
    source = HttpWorkSource(server, key)
    runner = Worker(
        source,
        slots=slots or os.cpu_count() or 1,
        models=served,
        name=name,
        memory_limit_mib=memory_mib or None,
    )
    asked_to_stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: asked_to_stop.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    runner.start()
    what = "every model" if served is None else ", ".join(served)
    typer.echo(f"jobline worker {runner.name} working for {server} ({runner.slots} slots, {what})")
    try:
        while not asked_to_stop.wait(WATCH_SECONDS) and source.refused is None:
            pass
    finally:
        source.interrupt()
        runner.stop(grace if source.refused is None else 0.0)
        source.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if source.refused is not None:
        fail(f"the server refused this worker: {source.refused.message}")
    typer.echo(f"jobline worker {runner.name} stopped")
