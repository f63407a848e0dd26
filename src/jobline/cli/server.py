"""``jobline serve`` and ``jobline db``: run the server, manage the schema."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from jobline.api.app import create_app
from jobline.cli.common import DatabaseUrl, DataDir, load_settings, open_store
from jobline.core.setup import Credentials, prepare
from jobline.store import migrate
from jobline.worker.loop import Worker
from jobline.worker.source import LocalWorkSource


def register(app: typer.Typer) -> None:
    app.command()(serve)
    db = typer.Typer(help="Database schema.", no_args_is_help=True)
    db.command("upgrade")(db_upgrade)
    db.command("current")(db_current)
    app.add_typer(db, name="db")


def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    host: Annotated[
        str | None, typer.Option(envvar="JOBLINE_HOST", help="(default: 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(envvar="JOBLINE_PORT", help="(default: 8000)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--worker-slots",
            envvar="JOBLINE_WORKER_SLOTS",
            help="embedded worker threads; 0 disables (default: CPU count)",
        ),
    ] = None,
    demo: Annotated[bool, typer.Option(help="create a demo user on the first start")] = True,
) -> None:
    """Run the API (and an embedded worker); migrates the database and registers models first."""
    settings = load_settings(data_dir, database_url)
    host = host or settings.host
    port = port or settings.port
    slots = settings.worker_slots if workers is None else workers
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    store = open_store(settings)
    report = prepare(store, settings, demo=demo)
    settings.resolved_secret()
    typer.echo(f"models: {', '.join(report.models)}")
    _show("admin", report.admin)
    _show("demo user", report.demo)
    source = LocalWorkSource(store, lease_seconds=settings.lease_seconds)
    memory = settings.input_memory_mib or None
    worker = Worker(source, slots=slots, memory_limit_mib=memory) if slots else None
    if worker is not None:
        worker.start()
    typer.echo(f"jobline serving http://{host}:{port} (data in {settings.data_dir.resolve()})")
    try:
        uvicorn.run(create_app(store, settings), host=host, port=port, log_level="info")
    finally:
        if worker is not None:
            worker.stop()
        store.close()


def _show(who: str, credentials: Credentials | None) -> None:
    if credentials is None:
        return
    typer.echo(f"created {who}: email {credentials.email}  password {credentials.password}")
    if credentials.key:
        typer.echo(f"  access key (shown once): {credentials.key}")


def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Bring the database schema to the newest revision."""
    store = open_store(load_settings(data_dir, database_url))
    try:
        migrate.upgrade(store.engine)
        typer.echo(f"database at revision {migrate.current(store.engine)}")
    finally:
        store.close()


def db_current(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Show the schema revision of the database and the newest one."""
    store = open_store(load_settings(data_dir, database_url))
    try:
        typer.echo(f"current {migrate.current(store.engine)}, newest {migrate.head()}")
    finally:
        store.close()
