"""A real HTTP server for tests whose client needs a socket (requests, a browser, a worker)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from jobline.api.app import create_app
from jobline.settings import Settings
from jobline.store import Store
from jobline.worker.loop import Worker
from jobline.worker.source import LocalWorkSource

START_SECONDS = 15.0  # how long uvicorn may take to start, and to stop


def bound_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1, not yet listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving_with_worker(
    store: Store, settings: Settings, *, max_request_bytes: int, name: str
) -> Iterator[str]:
    """The whole app on ``store`` with an embedded worker of two slots; yields its root URL."""
    app = create_app(store, settings.model_copy(update={"max_request_bytes": max_request_bytes}))
    worker = Worker(LocalWorkSource(store), slots=2, name=name)
    worker.start()
    try:
        with serving(app) as url:
            yield url
    finally:
        worker.stop()


@contextmanager
def serving(app: FastAPI, sock: socket.socket | None = None) -> Iterator[str]:
    """``app`` under uvicorn in a thread until the block ends; yields its root URL."""
    sock = sock or bound_socket()
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(START_SECONDS)
        sock.close()
