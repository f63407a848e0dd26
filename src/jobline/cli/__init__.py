"""The ``jobline`` command: server, worker, jobs, history, users, keys, models, database.

Server-side commands (``serve``, ``db``, ``users``, ``keys``) open the database named by
``--database-url`` / ``JOBLINE_DATABASE_URL`` (default: SQLite in ``./.jobline``). Client-side
commands (``submit``, ``status``, ``results``, ``history``, ``cancel``) talk to a server through
the SDK, at ``--url`` / ``JOBLINE_URL`` with ``--key`` / ``JOBLINE_KEY``.
"""

from __future__ import annotations

import typer

from jobline.cli import admin, dev, jobs, reports, retention, server, worker, workers

app = typer.Typer(
    name="jobline",
    help="A multi-user job service with a first-class job history.",
    no_args_is_help=True,
    add_completion=False,
)
server.register(app)
jobs.register(app)
admin.register(app)
retention.register(app)
reports.register(app)
dev.register(app)
worker.register(app)
workers.register(app)


def main() -> None:
    app()
